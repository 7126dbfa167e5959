/**
 * @module `jwtgate serve` in one process, and the steps a worker shares with it: listen, reload,
 * drain. With more than one worker, workers/primary.ts supervises processes that each run these.
 */
import { type Config, loadConfig } from '../core/config/load.ts'
import { summaryFields } from '../core/config/summary.ts'
import type { Environment } from '../core/config/types.ts'
import { ConfigError } from '../core/errors.ts'
import { createGateway, type Gateway, type GatewayDeps } from '../core/gateway.ts'
import { createLogger, formatLine, type LogFields, type Logger } from '../core/log.ts'
import { VERSION } from '../version.ts'
import type { Host, Server } from './host.ts'
import { openStore } from './store.ts'

/**
 * The idle timeout for client connections, in seconds, when the runtime's server can enforce it:
 * the stream idle timeout, or the longest upstream timeout if that is longer (waiting for an
 * upstream's headers is silence too). Undefined when the server cannot (Deno), when the stream
 * idle timeout is off, or when it is longer than the server allows; streamed bodies are then
 * watched in JavaScript alone. Read at start: a reload does not change it.
 */
export function connectionIdleSec(host: Host, config: Config): number | undefined {
  if (host.maxIdleTimeoutSec === undefined || config.limits.streamIdleMs <= 0) return undefined
  const longest = Math.max(config.limits.streamIdleMs, ...config.upstreams.map((u) => u.timeoutMs))
  const seconds = Math.ceil(longest / 1000)
  return seconds <= host.maxIdleTimeoutSec ? seconds : undefined
}

/** The logger of the configuration, writing to standard output. */
export function configLogger(host: Host, config: Config, fields?: LogFields): Logger {
  return createLogger({
    level: config.log.level,
    format: config.log.format,
    sink: host.stdout,
    fields,
  })
}

/** A gateway listening on the configured address (`port` overrides the configured one). */
export interface Listening {
  readonly gateway: Gateway
  readonly server: Server
}

/** Builds the gateway and listens; on failure prints why and resolves undefined. */
export async function listen(
  host: Host,
  config: Config,
  logger: Logger,
  options: { readonly port?: number; readonly reusePort?: boolean; readonly deps?: GatewayDeps } =
    {},
): Promise<Listening | undefined> {
  const idleTimeoutSec = connectionIdleSec(host, config)
  const gateway = createGateway(config, {
    ...host.gatewayDeps,
    ...options.deps,
    localNetworks: listenerNetworks(host, config.host),
    logger,
    connectionIdleMs: idleTimeoutSec === undefined ? undefined : idleTimeoutSec * 1000,
  })
  const port = options.port ?? config.port
  try {
    const server = await host.serve(gateway, {
      host: config.host,
      port,
      tls: config.tls,
      idleTimeoutSec,
      reusePort: options.reusePort,
      webSocket: {
        idleTimeoutSec: config.websockets.idleTimeoutSec,
        maxMessageBytes: config.websockets.maxMessageBytes,
        maxBufferedBytes: config.websockets.maxBufferedBytes,
      },
    })
    return { gateway, server }
  } catch (e) {
    gateway.close()
    host.stderr(
      `jwtgate: cannot listen on ${config.host}:${port}${
        config.tls ? ' (TLS: check that the certificate and key match)' : ''
      }: ${e instanceof Error ? e.message : String(e)}`,
    )
    return undefined
  }
}

/** Listens on the admin address with `handler`; on failure prints why and resolves undefined. */
export async function listenAdmin(
  host: Host,
  config: Config,
  handler: (request: Request) => Response | Promise<Response>,
): Promise<Server | undefined> {
  if (config.admin === undefined) return undefined
  try {
    return await host.serve(handler, {
      host: config.admin.host,
      port: config.admin.port,
      idleTimeoutSec: connectionIdleSec(host, config),
    })
  } catch (e) {
    host.stderr(
      `jwtgate: cannot listen on the admin address ${config.admin.host}:${config.admin.port}: ${
        e instanceof Error ? e.message : String(e)
      }`,
    )
    return undefined
  }
}

/** The one start-up line (always printed, whatever the log level), and the warnings after it. */
export function announce(
  host: Host,
  config: Config,
  logger: Logger,
  listen: { readonly port: number; readonly adminPort?: number; readonly workers?: number },
): void {
  host.stdout(
    formatLine(config.log.format, Date.now(), 'info', 'start', {
      version: VERSION,
      runtime: host.runtime,
      listen: `${config.host}:${listen.port}`,
      tls: config.tls !== undefined,
      admin: listen.adminPort === undefined
        ? undefined
        : `${config.admin!.host}:${listen.adminPort}`,
      workers: listen.workers,
      ...summaryFields(config),
    }),
  )
  for (const warning of config.warnings) logger.log('warn', 'config_warning', { warning })
  if (config.debugHeaders) {
    logger.log('warn', 'debug_headers', {
      warning:
        'rejection reasons are sent to clients in X-Jwtgate-Reason; do not use in production',
    })
  }
}

/** A configuration file's text as it was read and validated: what a primary gives its workers. */
export interface FileText {
  readonly path: string
  readonly text: string
}

/** A load's outcome: the configuration and its file's text, or the problems that keep the old one. */
export type Reloaded =
  | { readonly config: Config; readonly file: FileText | undefined }
  | { readonly problems: readonly string[] }

/**
 * Loads the configuration; the problems of a bad one, as lines. `given` stands in for the
 * configuration file (a worker loads the text its primary validated, not the file as it is now).
 */
export async function reloadConfig(
  host: Host,
  env: Environment,
  given?: FileText,
): Promise<Reloaded> {
  const read = new Map<string, string>()
  const readFile = (path: string) => {
    if (given !== undefined && path === given.path) return given.text
    const text = host.readFile(path)
    read.set(path, text)
    return text
  }
  try {
    const config = await loadConfig(env, { readFile })
    const path = config.file?.path
    const text = path === undefined ? undefined : given?.path === path ? given.text : read.get(path)
    return { config, file: path === undefined || text === undefined ? undefined : { path, text } }
  } catch (e) {
    return {
      problems: e instanceof ConfigError
        ? e.issues.map((i) => `${i.path}: ${i.message}`)
        : ['unexpected error'],
    }
  }
}

/**
 * The settings `next` changes that only a restart changes: what the listeners were opened with
 * (addresses, TLS certificate and key, the server's WebSocket limits), the workers, the stores
 * opened at start (Redis, the revocations file), the logger and the file watch. A reload applies
 * everything else, the admin token included.
 */
export function restartOnly(config: Config, next: Config): string[] {
  const redisWhere = (c: Config) =>
    c.redis === undefined ? undefined : [c.redis.url, c.redis.prefix]
  const differ = (a: unknown, b: unknown) => JSON.stringify(a) !== JSON.stringify(b)
  const server = (c: Config) => {
    const w = c.websockets
    return [w.idleTimeoutSec, w.maxMessageBytes, w.maxBufferedBytes]
  }
  const changed: [string, boolean][] = [
    ['listen', next.host !== config.host || next.port !== config.port],
    ['admin', next.admin?.host !== config.admin?.host || next.admin?.port !== config.admin?.port],
    ['tls', differ(next.tls, config.tls)],
    ['websockets (server limits)', differ(server(next), server(config))],
    ['workers', next.workers !== config.workers],
    // Where things are kept (refused by a reload), then how the connection behaves (warned).
    ['redis', differ(redisWhere(next), redisWhere(config))],
    [
      'redis (timeout, onFailure)',
      differ(next.redis, config.redis) && !differ(redisWhere(next), redisWhere(config)),
    ],
    ['revocations.file', next.revocations.file !== config.revocations.file],
    ['revocations.maxEntries', next.revocations.maxEntries !== config.revocations.maxEntries],
    ['log', differ(next.log, config.log)],
    ['watch', next.file?.watch !== config.file?.watch],
  ]
  return changed.flatMap(([name, yes]) => (yes ? [name] : []))
}

/**
 * `next` with `start`'s values for every setting restartOnly() names: what a worker started again
 * after a reload runs, so that it serves as the workers that kept running do (listening where
 * they listen, logging as they log, falling back as they fall back) until the gateway restarts.
 */
export function keepStartSettings(next: Config, start: Config): Config {
  const w = start.websockets
  return Object.freeze({
    ...next,
    host: start.host,
    port: start.port,
    admin: next.admin === undefined || start.admin === undefined
      ? start.admin
      : Object.freeze({ ...next.admin, host: start.admin.host, port: start.admin.port }),
    tls: start.tls,
    websockets: Object.freeze({
      ...next.websockets,
      maxMessageBytes: w.maxMessageBytes,
      maxBufferedBytes: w.maxBufferedBytes,
      idleTimeoutSec: w.idleTimeoutSec,
    }),
    workers: start.workers,
    redis: start.redis,
    revocations: Object.freeze({
      ...next.revocations,
      file: start.revocations.file,
      maxEntries: start.revocations.maxEntries,
    }),
    log: start.log,
    file: next.file === undefined || start.file === undefined
      ? next.file
      : Object.freeze({ ...next.file, watch: start.file.watch }),
  })
}

/**
 * A reload's first step: the configuration loaded again, or undefined when it is invalid
 * (`reload_failed` logged: the running one stays), or that moves where revocations are kept. Other
 * settings only a restart changes are warned of.
 */
export async function nextConfig(
  host: Host,
  env: Environment,
  config: Config,
  logger: Logger,
  trigger: string,
): Promise<{ readonly config: Config; readonly file: FileText | undefined } | undefined> {
  const next = await reloadConfig(host, env)
  if ('problems' in next) {
    logger.log('error', 'reload_failed', {
      trigger,
      problems: next.problems,
      keeping: 'the running configuration',
    })
    return undefined
  }
  const unchanged = restartOnly(config, next.config)
  // Where revocations are read is opened at start: a reload that moved it would have
  // `jwtgate revoke` write where this gateway does not read (a revocation not in force, while
  // it says "revoked"). Refused, so that the operator restarts.
  const stores = unchanged.filter((name) => name === 'redis' || name === 'revocations.file')
  if (stores.length > 0) {
    logger.log('error', 'reload_failed', {
      trigger,
      problems: stores.map((name) =>
        `${name}: where revocations and shared limits are kept changes only on restart`
      ),
      keeping: 'the running configuration',
    })
    return undefined
  }
  if (unchanged.length > 0) {
    logger.log('warn', 'reload_needs_restart', {
      settings: unchanged,
      reason: 'these keep their running values until a restart; the rest of the reload applies',
    })
  }
  return next
}

/**
 * Runs `reload` for every SIGHUP and, when the file is watched, every change of it — one at a
 * time. Returns a function that stops watching the file.
 */
export function onReloads(
  host: Host,
  config: Config,
  reload: (trigger: string) => Promise<void>,
): () => void {
  let reloading = Promise.resolve()
  const queue = (trigger: string) => {
    // A reload that throws must not stop the ones after it.
    reloading = reloading.then(() => reload(trigger)).catch(() => {})
  }
  host.onReload(() => queue('SIGHUP'))
  const unwatch = config.file?.watch
    ? host.watchFile(config.file.path, () => queue('file change'))
    : undefined
  return () => unwatch?.()
}

/**
 * A second signal this soon after the first is the same stop request delivered twice, not an
 * operator insisting: a launcher forwarding it to a process that also got it from its group
 * (Ctrl-C, `kill -- -PGID`) or its cgroup (systemd's `KillMode=control-group`) — measured 5 ms
 * apart through the npm launcher.
 */
export const DUPLICATE_SIGNAL_MS = 100

/**
 * Resolves with the first shutdown signal's name; a second one calls `forced`, unless it came
 * within DUPLICATE_SIGNAL_MS of the first.
 */
export function firstSignal(
  host: Host,
  forced: (signal: string) => void,
  now: () => number = performance.now.bind(performance),
): Promise<string> {
  let first: number | undefined
  return new Promise<string>((resolve) =>
    host.onSignal((name) => {
      const at = now()
      if (first === undefined) first = at
      else if (at - first >= DUPLICATE_SIGNAL_MS) forced(name)
      resolve(name)
    })
  )
}

/**
 * Stops accepting and waits for the requests in flight, up to the shutdown timeout; then cuts
 * what is left. Resolves true when every request finished in time.
 */
export async function drain(server: Server, gateway: Gateway, logger: Logger): Promise<boolean> {
  const timeoutMs = gateway.config.shutdownTimeoutMs
  gateway.drain()
  let timer: ReturnType<typeof setTimeout> | undefined
  const timedOut = await Promise.race([
    server.stop().then(() => false),
    new Promise<boolean>((resolve) => (timer = setTimeout(resolve, timeoutMs, true))),
  ])
  clearTimeout(timer)
  if (timedOut) {
    logger.log('warn', 'shutdown_timeout', {
      timeout_ms: timeoutMs,
      reason: 'requests still in flight were cut',
    })
    await server.stop(true)
  }
  return !timedOut
}

/** `jwtgate serve` as one process: listen, announce, reload on SIGHUP, drain on SIGTERM. */
export async function serveOne(host: Host, env: Environment, config: Config): Promise<number> {
  const logger = configLogger(host, config)
  const store = await openStore(host, config, logger)
  if (typeof store === 'string') {
    host.stderr(`jwtgate: ${store}`)
    return 1
  }
  await store.loaded
  const listening = await listen(host, config, logger, { deps: store.deps })
  if (listening === undefined) {
    store.close()
    return 1
  }
  const { gateway, server } = listening
  const admin = await listenAdmin(host, config, (request) => gateway.admin(request))
  if (config.admin !== undefined && admin === undefined) {
    await server.stop(true)
    gateway.close()
    store.close()
    return 1
  }
  // The signals are ours before the start line says so: a SIGHUP or SIGTERM sent on seeing it
  // must not meet the runtime's default (which ends the process).
  const unwatch = onReloads(host, config, async (trigger) => {
    const next = await nextConfig(host, env, config, logger, trigger)
    if (next === undefined) return
    gateway.reload(next.config)
    logger.log('info', 'reload', { trigger, routes: next.config.routes.length })
  })
  // First signal: drain gracefully. A second one: exit at once.
  const signalled = firstSignal(host, (name) => {
    logger.log('warn', 'shutdown_forced', { signal: name })
    host.exit(1)
  })
  announce(host, config, logger, { port: server.port, adminPort: admin?.port })

  const signal = await signalled
  logger.log('info', 'shutdown', {
    signal,
    in_flight: gateway.metrics.inFlight.value,
    timeout_ms: gateway.config.shutdownTimeoutMs,
  })
  unwatch()
  await drain(server, gateway, logger)
  await admin?.stop(true)
  gateway.close()
  store.close()
  logger.log('info', 'stopped', {})
  return 0
}

/**
 * The networks the listener is on, as CIDR ranges — every interface's for a wildcard address,
 * else the interface that has the address: with loopback, who may ask for checks by default.
 */
export function listenerNetworks(host: Host, address: string): string[] {
  const wildcard = address === '0.0.0.0' || address === '::' || address === ''
  return host.networks().filter((n) => wildcard || n.address === address).map((n) => n.cidr)
}
