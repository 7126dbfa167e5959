/**
 * @module A worker: one of the processes the primary started (workers/primary.ts). It serves the
 * listener like a single process does (serve.ts), on a port it shares (SO_REUSEPORT), and leaves
 * the rest to the primary: the start-up line, the admin listener, signals. Its rate-limit buckets
 * and JWK Set fetches go through the primary, so that they hold for all workers together — or,
 * with JWTGATE_REDIS_URL, its buckets are in Redis, which every worker reaches as an instance does.
 */
import { DOCUMENT_AGE, MAX_DOCUMENT_BYTES } from '../../core/auth/fetch-json.ts'
import type { Config, Environment } from '../../core/config/types.ts'
import type { GatewayDeps } from '../../core/gateway.ts'
import type { TakeResult } from '../../core/limits/gcra.ts'
import { GuardedStore } from '../../core/limits/guarded.ts'
import type { Logger } from '../../core/log.ts'
import { SharedLimiter } from '../../core/rate-limit.ts'
import { type OpenStore, openStore } from '../store.ts'
import { parseRevocation } from '../../core/revocation/entry.ts'
import type { Host } from '../host.ts'
import {
  configLogger,
  drain,
  type FileText,
  keepStartSettings,
  listen,
  type Listening,
  reloadConfig,
} from '../serve.ts'
import { Channel, type Message, readLines } from './channel.ts'

/** Set by the primary in a worker's environment: its number, from 1. Not a setting (no `JWTGATE_` prefix). */
export const WORKER_VAR = '_JWTGATE_WORKER'
/** Set by the primary once the first worker has bound the port (JWTGATE_PORT=0 picks one). */
export const PORT_VAR = '_JWTGATE_WORKER_PORT'

/** How long a rate-limit check waits for the primary before this process's own buckets decide. */
const LIMIT_TIMEOUT_MS = 1000
/** How long a starting worker waits for its configuration from the primary. */
const CONFIG_TIMEOUT_MS = 10_000
/**
 * How long `/readyz` waits for the primary's answer (which waits for each worker up to its
 * STATUS_TIMEOUT_MS, 2 s); past it, not ready.
 */
const READYZ_TIMEOUT_MS = 3000
/**
 * How long a worker reuses the primary's last answer to `/readyz`: probes are unauthenticated, and
 * each ask costs the primary a status round over every worker — a flood of probes costs it one
 * per this long (and one at a time).
 */
const READYZ_REUSE_MS = 1000

/** A worker's place: its number, and the port the first worker bound. */
export interface WorkerRole {
  readonly index: number
  readonly port: number | undefined
}

/** The worker role the primary gave this process, or undefined in a process started by hand. */
export function workerRole(env: Environment): WorkerRole | undefined {
  const index = Number(env[WORKER_VAR])
  if (!Number.isInteger(index) || index < 1) return undefined
  const port = Number(env[PORT_VAR])
  return { index, port: Number.isInteger(port) && port > 0 ? port : undefined }
}

/** Serves as worker `role.index` until the primary says drain, or goes away; resolves with the exit code. */
export async function runWorker(
  host: Host,
  env: Environment,
  role: WorkerRole,
): Promise<number> {
  // Set once the configuration is loaded; the handlers below may run before then.
  // deno-lint-ignore prefer-const
  let logger: Logger | undefined
  // Assigned once listening; the handlers below read it before then.
  let listening: Listening | undefined
  /** The configuration this worker runs (or will listen with): the primary's text, then each reload's. */
  let runs: Config | undefined
  /**
   * The reloads, applied one at a time in the order they came, each answered once applied — never
   * before: the primary logs a reload once every worker has said so. Closed until the
   * configuration is loaded; held while the listener is set up (`held`). A reload that comes
   * before the worker listens changes the configuration it will listen with.
   */
  let configured!: () => void
  let reloads: Promise<unknown> = new Promise<void>((resolve) => (configured = resolve))
  function reload(file: FileText | undefined, reply: (fields: object) => void): void {
    reloads = reloads.then(async () => {
      const next = await reloadConfig(host, env, file)
      if ('problems' in next) return reply({ ok: false, problems: next.problems })
      // What only a restart changes stays as this worker starts (or started): a reload that
      // comes before it listens must not move its address, certificate or server limits away
      // from the other workers'.
      runs = keepStartSettings(next.config, runs!)
      listening?.gateway.reload(runs)
      reply({ ok: true, routes: next.config.routes.length })
    })
  }
  /** Runs `step` after the reloads that came before it, and before those that come meanwhile. */
  function held<T>(step: () => Promise<T>): Promise<T> {
    const result = reloads.then(step)
    reloads = result.catch(() => {})
    return result
  }
  let stopWanted = false
  // deno-lint-ignore prefer-const -- read by the message handler above, set once the store is open
  let storeDeps: OpenStore['deps'] | undefined
  let stopping: Promise<void> | undefined
  let stopped!: () => void
  const done = new Promise<void>((resolve) => (stopped = resolve))
  /** Drains once; before the listener is up, remembers that it must. */
  function stop(): void {
    stopWanted = true
    const { server, gateway } = listening ?? {}
    if (server === undefined || gateway === undefined || logger === undefined) return
    stopping ??= drain(server, gateway, logger).then(() => {
      gateway.close()
      stopped()
    })
  }

  const channel = new Channel((line) => host.stderr(line), (message, reply) => {
    if (message.t === 'status') {
      reply({
        ready: listening?.gateway.ready ?? false,
        inFlight: listening?.gateway.metrics.inFlight.value ?? 0,
        ...(message.metrics === false
          ? {}
          : { metrics: listening?.gateway.metrics.render() ?? '' }),
      })
    } else if (message.t === 'reload') {
      reload(message.file as FileText | undefined, reply)
    } else if (message.t === 'revoke') {
      const config = listening?.gateway.config
      const revoke = storeDeps?.revoke
      const entry = config === undefined
        ? 'not serving yet'
        : parseRevocation(message.entry, 0, config.revocations.maxTokenLifetimeSec)
      if (typeof entry === 'string' || revoke === undefined) {
        return reply({
          ok: false,
          error: typeof entry === 'string' ? entry : 'no revocation store',
        })
      }
      revoke(entry).then(
        () => reply({ ok: true }),
        (e: Error) => reply({ ok: false, error: e.message.slice(0, 200) }),
      )
    } else if (message.t === 'drain') {
      stop()
    }
  })
  // Messages from the primary; their end means the primary is gone: drain and go too.
  void readLines(host.stdin(), (line) => channel.receive(line)).then(() => {
    channel.close()
    stop()
  })
  // The primary reloads every worker; a SIGHUP of this process alone is not a reload.
  host.onReload(() => {})
  // A terminal's Ctrl-C reaches the whole process group: the same as the primary's drain.
  host.onSignal(() => stop())

  // The configuration file's text the primary validated, not the file as it is now.
  const loaded = await channel.request({ t: 'config' }, CONFIG_TIMEOUT_MS).then(
    async (reply) => {
      const next = await reloadConfig(host, env, reply.file as FileText | undefined)
      if ('problems' in next || reply.start === undefined) return next
      // Started again after a reload: what only a restart changes stays as the gateway started.
      const start = await reloadConfig(host, env, reply.start as FileText | undefined)
      if ('problems' in start) return start
      return { ...next, config: keepStartSettings(next.config, start.config) }
    },
    () => ({ problems: ['no configuration from the primary'] }),
  )
  if ('problems' in loaded) {
    for (const problem of loaded.problems) host.stderr(`jwtgate: worker ${role.index}: ${problem}`)
    return 1
  }
  runs = loaded.config
  configured()
  const log = configLogger(host, runs, { worker: role.index })
  logger = log
  // What only a restart changes (Redis among it) is read from the configuration as it starts.
  const store = await openStore(host, runs, log)
  if (typeof store === 'string') {
    host.stderr(`jwtgate: worker ${role.index}: ${store}`)
    return 1
  }
  storeDeps = store.deps
  await store.loaded
  // Listens with the reloads that came while it started applied; those that come meanwhile apply
  // once it listens.
  await held(async () => {
    const config = runs!
    listening = await listen(host, config, log, {
      port: role.port,
      reusePort: true,
      deps: {
        // Without Redis the primary holds the buckets; the revocations are read here either way.
        ...(config.redis === undefined ? primaryBuckets(channel, log) : {}),
        ...store.deps,
        // Only `(url, init)` is called (fetch-json.ts); Bun's fetch type adds `preconnect`.
        keyFetch: ((input: string | URL | Request, init?: RequestInit) =>
          sharedFetch(channel, input, init)) as typeof fetch,
        // `/readyz` on the shared port is the whole gateway's: a probe may reach any worker.
        othersReady: gatewayReady(channel),
      },
    })
  })
  if (listening === undefined) {
    store.close()
    return 1
  }
  void done.then(() => store.close())
  if (stopWanted) stop()
  channel.send({ t: 'ready', port: listening.server.port, pid: host.pid })
  await done
  return 0
}

/**
 * Asks the primary whether every worker is ready, for `/readyz`: one ask at a time, its answer
 * reused for READYZ_REUSE_MS; no answer within READYZ_TIMEOUT_MS is not ready.
 */
function gatewayReady(channel: Channel): () => Promise<boolean> {
  let answer: Promise<boolean> | undefined
  let asking = false
  let answeredAt = 0
  return () => {
    if (answer !== undefined && (asking || Date.now() - answeredAt < READYZ_REUSE_MS)) return answer
    asking = true
    answer = channel.request({ t: 'readyz' }, READYZ_TIMEOUT_MS).then(
      (reply) => reply.ready === true,
      () => false,
    ).finally(() => {
      asking = false
      answeredAt = Date.now()
    })
    return answer
  }
}

/**
 * A fetch of a JWK Set or OIDC metadata, made by the primary for every worker (shared.ts): the
 * key source's own deadline (`init.signal`) still applies here.
 */
export async function sharedFetch(
  channel: Channel,
  input: string | URL | Request,
  init?: RequestInit,
): Promise<Response> {
  const url = input instanceof Request ? input.url : String(input)
  const signal = init?.signal ?? undefined
  const reply = await abortable(channel.request({ t: 'fetch', url }, 60_000), signal)
  if (typeof reply.error === 'string') throw new TypeError(reply.error)
  const status = reply.status as number
  const body = status === 204 || status === 304 ? null : (reply.body as string)
  const headers: Record<string, string> = { 'content-type': 'application/json' }
  // Too large for the primary to pass on: the key source's own check says so.
  if (reply.tooLarge === true) headers['content-length'] = String(MAX_DOCUMENT_BYTES + 1)
  const response = new Response(body, { status, headers })
  // A copy the primary kept: the key source's cooldown counts from the primary's fetch.
  if (typeof reply.ageMs === 'number') {
    Object.defineProperty(response, DOCUMENT_AGE, { value: reply.ageMs })
  }
  return response
}

/** `promise`, or the signal's reason once it aborts. */
function abortable(promise: Promise<Message>, signal: AbortSignal | undefined): Promise<Message> {
  if (signal === undefined) return promise
  if (signal.aborted) return Promise.reject(signal.reason)
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort))
  })
}

/**
 * Rate-limit buckets held by the primary (without Redis): JWTGATE_RATE_LIMIT's, and the named
 * limits' (one message per request, all its buckets at once). When the primary does not answer
 * within LIMIT_TIMEOUT_MS, this worker's own buckets decide.
 */
function primaryBuckets(
  channel: Channel,
  logger: Logger,
): Pick<GatewayDeps, 'limiter' | 'limitStore'> {
  return {
    limiter: (rate) =>
      new SharedLimiter(rate, (key) =>
        channel.request(
          { t: 'limit', limit: rate.limit, periodMs: rate.periodMs, key },
          LIMIT_TIMEOUT_MS,
        ).then((reply) => ({ wait: Number(reply.wait), next: Number(reply.next ?? 0) }))),
    limitStore: new GuardedStore({
      take: (checks) =>
        channel.request({
          t: 'take',
          checks: checks.map((c) => [c.key, c.bucket.intervalMs, c.bucket.toleranceMs]),
        }, LIMIT_TIMEOUT_MS).then((reply) => reply as unknown as TakeResult),
    }, { name: 'primary', logger }),
  }
}
