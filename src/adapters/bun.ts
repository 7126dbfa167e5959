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
import type { ClientEvents, ClientSocket, Message } from '../core/websocket/relay.ts'
import type { WebSocketAnswer } from '../core/websocket/proxy.ts'
import { GatewayError } from '../core/errors.ts'
import { failureResponse } from '../core/respond.ts'
import type { Logger } from '../core/log.ts'
import {
  type Handler,
  type RuntimeDeps,
  type Servable,
  type ServeOptions,
  type Server,
} from './types.ts'

export type { Handler, RuntimeDeps, Servable, ServeOptions, Server } from './types.ts'

/**
 * Bun's fetch decodes compressed bodies unless told not to: keep the upstream's bytes. Bun's
 * request headers are mutable: a proxied request's are edited into the upstream request's, not
 * copied (so a request handed to the gateway is spent, its body streamed and its headers
 * changed). Pass it to `createGateway` (spread, to add `connectionIdleMs` or a logger).
 */
export const runtimeDeps: RuntimeDeps = Object.freeze({
  fetchInit: { decompress: false },
  headerBuild: 'edit',
})

/** Bun.serve refuses a longer idle timeout. */
export const MAX_IDLE_TIMEOUT_SEC = 255

/** Bun refuses a longer WebSocket idle timeout. */
const MAX_WEBSOCKET_IDLE_SEC = 960

/** What this adapter uses of Bun (typed here so that Deno and JSR check it without Bun's types). */
interface BunServer {
  readonly port?: number
  requestIP(request: Request): { address: string } | null
  stop(force?: boolean): Promise<void> | void
  upgrade(
    request: Request,
    options: { headers: Headers; data: ClientEvents },
  ): boolean
}
interface BunWebSocket {
  readonly data: ClientEvents
  send(data: Message): number
  close(code: number, reason: string): void
  getBufferedAmount(): number
  pause(): void
  resume(): void
}
interface BunServe {
  serve(options: {
    hostname: string
    port: number
    tls?: { cert: string; key: string }
    idleTimeout: number
    reusePort: boolean
    maxRequestBodySize: number
    development: boolean
    error: (error: unknown) => Response
    fetch: (
      request: Request,
      server: BunServer,
    ) => Response | undefined | Promise<Response | undefined>
    websocket: {
      open(ws: BunWebSocket): void
      message(ws: BunWebSocket, data: string | Uint8Array<ArrayBuffer>): void
      close(ws: BunWebSocket, code: number, reason: string): void
      drain(ws: BunWebSocket): void
      idleTimeout: number
      maxPayloadLength: number
      backpressureLimit: number
      sendPings: boolean
    }
  }): BunServer
}

/** The response a handler gives for an upgrade Bun has done: Bun's fetch then returns nothing. */
const UPGRADED = new Response(null, { status: 200 })

/** The client's end of an upgraded connection, over Bun's ServerWebSocket. */
class BunClient implements ClientSocket {
  readonly #ws: BunWebSocket
  constructor(ws: BunWebSocket) {
    this.#ws = ws
  }
  send(data: Message): void {
    this.#ws.send(data)
  }
  close(code: number, reason: string): void {
    this.#ws.close(code, reason)
  }
  get bufferedAmount(): number {
    return this.#ws.getBufferedAmount()
  }
  /** Stops reading the client (Bun ≥ 1.4.3): a slow upstream holds it back through TCP. */
  pause(): void {
    this.#ws.pause()
  }
  resume(): void {
    this.#ws.resume()
  }
}

/** Bun's WebSocket handlers, shared by every connection: each reports to its relay (`data`). */
const WEBSOCKET_HANDLERS = {
  open: (ws: BunWebSocket) => ws.data.opened(new BunClient(ws)),
  message: (ws: BunWebSocket, data: string | Uint8Array<ArrayBuffer>) => ws.data.message(data),
  // Over maxPayloadLength Bun sends the client 1009 itself, but reports 1006 here.
  close: (ws: BunWebSocket, code: number, reason: string) =>
    ws.data.closed(code === 1006 && reason === BUN_TOO_BIG ? TOO_BIG : code, reason),
  drain: (ws: BunWebSocket) => ws.data.drained?.(),
}
const BUN_TOO_BIG = 'Received too big message'
const TOO_BIG = 1009

/** Upgrades `request` on `server`; the gateway's fetch handler returns the marker. */
function upgradeOn(
  server: BunServer,
  request: Request,
  answer: WebSocketAnswer,
  events: ClientEvents,
): Response {
  const headers = new Headers(answer.headers)
  // Without a value here Bun would answer with the client's first offer, which the upstream
  // did not choose; empty, it sends no Sec-WebSocket-Protocol.
  headers.set('sec-websocket-protocol', answer.protocol ?? '')
  if (!server.upgrade(request, { headers, data: events })) {
    throw new GatewayError('bad_upgrade', 400, 'The WebSocket handshake could not be completed.')
  }
  return UPGRADED
}

const unmark = (response: Response) => (response === UPGRADED ? undefined : response)

/** `handler`, whose answers that are no Response (or its upgrade marker) become the generic 500. */
function answersResponses(handler: Handler, logger: Logger | undefined): Handler {
  const checked = (answer: Response) =>
    answer instanceof Response
      ? answer
      : failureResponse(new TypeError('The handler returned no Response.'), logger)
  return (request, info) => {
    const answer = handler(request, info)
    return answer instanceof Promise ? answer.then(checked) : checked(answer)
  }
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
  // A gateway always answers with a Response; any other handler's answer is checked: Bun would
  // answer a missing one with an empty 204 (Deno's and Node's adapters answer 500).
  const handler = typeof servable === 'function'
    ? answersResponses(servable, options.logger)
    : servable.fetch
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
      // A handler that throws or rejects (the gateway's never do) gets the generic problem+json
      // 500: never Bun's error page, which in development mode shows the error and the source.
      development: false,
      error: (e) => failureResponse(e, options.logger),
      fetch(request, srv) {
        const clientAddress = srv.requestIP(request)?.address
        if (request.headers.get('upgrade') === null) {
          return handler(request, { clientAddress, protocol })
        }
        const upgrade = (r: Request, answer: WebSocketAnswer, events: ClientEvents) =>
          upgradeOn(srv, r, answer, events)
        const answered = handler(request, { clientAddress, protocol, upgrade })
        return answered instanceof Promise ? answered.then(unmark) : unmark(answered)
      },
      websocket: {
        ...WEBSOCKET_HANDLERS,
        idleTimeout: Math.min(options.webSocket?.idleTimeoutSec ?? 120, MAX_WEBSOCKET_IDLE_SEC),
        maxPayloadLength: options.webSocket?.maxMessageBytes ?? 16 * 1024 * 1024,
        // Past this Bun drops what is sent (send() returns 0): kept above the gateway's own bound
        // on bytes waiting for a slow receiver (plus a message), which closes first.
        backpressureLimit: Math.max(
          16 * 1024 * 1024,
          (options.webSocket?.maxBufferedBytes ?? 0) + (options.webSocket?.maxMessageBytes ?? 0),
        ),
        sendPings: true,
      },
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
