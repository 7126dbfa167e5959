/**
 * @module Serving jwtgate from Bun (`Bun.serve`), as the compiled binary does: the client's
 * address and protocol handed to the gateway, request bodies streamed without Bun's 128 MB cap,
 * the connection idle timeout set (Bun's default, 10 s, would cut slow upstreams and quiet
 * streams; none would keep idle connections forever), and Bun's fetch told to pass compressed
 * upstream bodies through (`runtimeDeps`).
 *
 * @example
 * import { createGateway, loadConfig } from 'jwtgate'
 * import { runtimeDeps, serve } from 'jwtgate/bun'
 *
 * const gateway = createGateway(await loadConfig(process.env), { ...runtimeDeps, connectionIdleMs: 120_000 })
 * const server = await serve(gateway, { port: 8080, idleTimeoutSec: 120 })
 */
import {
  handlerOf,
  type RuntimeDeps,
  type Servable,
  type ServeOptions,
  type Server,
} from './types.ts'

export type { Handler, RuntimeDeps, Servable, ServeOptions, Server } from './types.ts'

/**
 * Bun's fetch decodes compressed bodies unless told not to: keep the upstream's bytes. Pass it
 * to `createGateway` (spread, to add `connectionIdleMs` or a logger).
 */
export const runtimeDeps: RuntimeDeps = Object.freeze({ fetchInit: { decompress: false } })

/** Bun.serve refuses a longer idle timeout. */
export const MAX_IDLE_TIMEOUT_SEC = 255

/** What this adapter uses of Bun (typed here so that Deno and JSR check it without Bun's types). */
interface BunServer {
  readonly port?: number
  requestIP(request: Request): { address: string } | null
  stop(force?: boolean): Promise<void> | void
}
interface BunServe {
  serve(options: {
    hostname: string
    port: number
    tls?: { cert: string; key: string }
    idleTimeout: number
    reusePort: boolean
    maxRequestBodySize: number
    fetch: (request: Request, server: BunServer) => Response | Promise<Response>
  }): BunServer
}

/**
 * Listens with Bun.serve and serves `servable` (a gateway, or any handler) with the client's
 * address and protocol. Resolves once listening; rejects when it cannot (the port is taken, a
 * bad certificate). `idleTimeoutSec` is capped at 255 (Bun's limit, `MAX_IDLE_TIMEOUT_SEC`).
 *
 * @example
 * import { createGateway, loadConfig } from 'jwtgate'
 * import { runtimeDeps, serve } from 'jwtgate/bun'
 *
 * const gateway = createGateway(await loadConfig(process.env), { ...runtimeDeps, connectionIdleMs: 120_000 })
 * const server = await serve(gateway, { port: 8080, idleTimeoutSec: 120 })
 * // later: gateway.drain(); await server.stop(); gateway.close()
 */
export function serve(servable: Servable, options: ServeOptions = {}): Promise<Server> {
  const handler = handlerOf(servable)
  const protocol = options.tls === undefined ? 'http' : 'https'
  const bun = (globalThis as unknown as { Bun: BunServe }).Bun
  let server: BunServer
  try {
    server = bun.serve({
      hostname: options.hostname ?? '0.0.0.0',
      port: options.port ?? 8080,
      tls: options.tls,
      idleTimeout: Math.min(options.idleTimeoutSec ?? 0, MAX_IDLE_TIMEOUT_SEC),
      reusePort: options.reusePort ?? false,
      // Bun caps request bodies at 128 MB by default; uploads stream through, so no cap here.
      maxRequestBodySize: Number.MAX_SAFE_INTEGER,
      fetch: (request, srv) =>
        handler(request, { clientAddress: srv.requestIP(request)?.address, protocol }),
    })
  } catch (e) {
    // Bun.serve binds synchronously and throws: a rejection, as every adapter's serve gives.
    return Promise.reject(e)
  }
  return Promise.resolve({
    port: server.port ?? options.port ?? 0,
    stop: async (force) => void (await server.stop(force)),
  })
}
