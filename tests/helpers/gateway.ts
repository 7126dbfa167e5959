/**
 * The in-process gateway fixture of the core suites (not collected: no `.test.`): a gateway built
 * from environment variables or a configuration file text, over recording upstreams on
 * 127.0.0.1, with the fetch options of the runtime running the test (as src/bun.ts and
 * src/deno.ts pass them), and a log sink that keeps every line.
 *
 * @example
 * const g = await gatewayFixture({
 *   env: ({ upstream }) => ({ JWTGATE_UPSTREAM: upstream.url, JWTGATE_SECRET: secret }),
 * })
 * try {
 *   const res = await g.call('/x', { headers: { authorization: `Bearer ${token}` } })
 *   assert.equal(g.upstream.seen.length, 1)
 * } finally {
 *   await g.close()
 * }
 */
import { loadConfig } from '../../src/core/config/load.ts'
import { createGateway, type Gateway, type GatewayDeps } from '../../src/core/gateway.ts'
import { createLogger } from '../../src/core/log.ts'
import { type Handler, type RecordingUpstream, recordingUpstream } from './serve.ts'
import { isDeno } from './t.ts'

/**
 * What each runtime's adapter passes (runtimeDeps in src/adapters/bun.ts and deno.ts): its fetch
 * options and how it builds header lists, so that every core suite runs as the binary does.
 */
export const RUNTIME: GatewayDeps = isDeno
  ? { decodedEncodings: ['gzip', 'br'], headerBuild: 'append' }
  : { fetchInit: { decompress: false }, headerBuild: 'edit' }

/** The Host header `call()` sends unless the test gives one. */
export const FIXTURE_HOST = 'gw.test'
/** The client address `call()` reports unless the test gives one. */
export const FIXTURE_CLIENT = '192.0.2.7'
/** Where the configuration file text lives (served by the fixture's `readFile`). */
export const FIXTURE_CONFIG_PATH = '/jwtgate.yaml'

type Config = Gateway['config']
type Env = Record<string, string>
type Upstreams<N extends string> = { readonly [K in N]: RecordingUpstream }

export interface FixtureOptions<N extends string> {
  /**
   * The recording upstreams to start, by name, each with how it answers (undefined: a 200 JSON
   * echo of the path). Default: one, named `upstream`.
   */
  readonly upstreams?: { readonly [K in N]: Handler | undefined }
  /** The environment, given the upstreams' URLs. With `file`, JWTGATE_CONFIG is added. */
  readonly env?: (upstreams: Upstreams<N>) => Env
  /** A configuration file text (YAML or JSON), given the upstreams' URLs. */
  readonly file?: (upstreams: Upstreams<N>) => string
  /** More dependencies (a clock, a fetch) over the runtime's fetch options and the log sink. */
  readonly deps?: GatewayDeps
}

export interface GatewayFixture<N extends string> {
  readonly gateway: Gateway
  /** The configuration the gateway started with (`gateway.config` after a reload). */
  readonly config: Config
  readonly upstreams: Upstreams<N>
  /** The first upstream (the only one, unless `upstreams` named several). */
  readonly upstream: RecordingUpstream
  /** Every log line the gateway wrote (JSON, level info). */
  readonly lines: string[]
  /** The configuration file text; assign to change what the next `load()` reads. */
  file: string
  /** The fixture's file reader: the file text at FIXTURE_CONFIG_PATH, ENOENT elsewhere. */
  readFile(path: string): string
  /** Loads the configuration again from the environment and the current file text. */
  load(): Promise<Config>
  /**
   * Sends a request as a server hands it over: with the Host header the client sent
   * (FIXTURE_HOST unless `init` names one) and the connection's client address.
   */
  call(path: string, init?: RequestInit, clientAddress?: string): Promise<Response>
  /** Stops the gateway's background work and the upstreams. */
  close(): Promise<void>
}

/** Starts the upstreams, loads the configuration and builds the gateway over them. */
export async function gatewayFixture<N extends string = 'upstream'>(
  options: FixtureOptions<N>,
): Promise<GatewayFixture<N>> {
  const handlers: Record<string, Handler | undefined> = options.upstreams ?? { upstream: undefined }
  const started: Record<string, RecordingUpstream> = {}
  for (const [name, respond] of Object.entries(handlers)) {
    started[name] = await recordingUpstream(respond)
  }
  const upstreams = started as Upstreams<N>
  const first = Object.values(started)[0]!
  let file = options.file?.(upstreams) ?? ''
  const readFile = (path: string): string => {
    if (options.file === undefined || path !== FIXTURE_CONFIG_PATH) {
      throw new Error(`ENOENT: ${path}`)
    }
    return file
  }
  const env: Env = {
    ...(options.file === undefined ? {} : { JWTGATE_CONFIG: FIXTURE_CONFIG_PATH }),
    ...options.env?.(upstreams),
  }
  const load = () => loadConfig(env, { readFile })
  const lines: string[] = []
  let gateway: Gateway
  let config: Config
  try {
    config = await load()
    gateway = createGateway(config, {
      ...RUNTIME,
      logger: createLogger({ level: 'info', format: 'json', sink: (l) => lines.push(l) }),
      ...options.deps,
    })
  } catch (e) {
    for (const u of Object.values(started)) await u.close()
    throw e
  }
  return {
    gateway,
    config,
    upstreams,
    upstream: first,
    lines,
    get file() {
      return file
    },
    set file(text: string) {
      file = text
    },
    readFile,
    load,
    call(path, init = {}, clientAddress = FIXTURE_CLIENT) {
      const headers = new Headers(init.headers)
      if (!headers.has('host')) headers.set('host', FIXTURE_HOST)
      return gateway.fetch(new Request(`http://${FIXTURE_HOST}${path}`, { ...init, headers }), {
        clientAddress,
      })
    },
    async close() {
      gateway.close()
      for (const u of Object.values(started)) await u.close()
    },
  }
}
