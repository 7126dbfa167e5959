/**
 * @module Serving jwtgate from Deno (`Deno.serve`): the client's address and protocol handed to
 * the gateway, graceful and forced stops, and what Deno's fetch does to compressed upstream
 * bodies (`runtimeDeps`: it always decodes gzip and br). Deno's server has no connection idle
 * timeout, so `idleTimeoutSec` is not available here: the gateway watches streamed bodies itself.
 *
 * @example
 * import { createGateway, loadConfig } from 'jwtgate'
 * import { runtimeDeps, serve } from 'jwtgate/deno'
 *
 * const gateway = createGateway(await loadConfig(Deno.env.toObject()), runtimeDeps)
 * const server = await serve(gateway, { port: 8080 })
 */
import { failureResponse } from '../core/respond.ts'
import type { ClientEvents } from '../core/websocket/relay.ts'
import type { WebSocketAnswer, WebSocketClient } from '../core/websocket/proxy.ts'
import { SocketWebSocket } from './websocket-client.ts'
import {
  handlerOf,
  type RuntimeDeps,
  type Servable,
  type ServeOptions,
  type Server,
} from './types.ts'

export type { Handler, RuntimeDeps, Servable, ServeOptions, Server } from './types.ts'
export { SocketWebSocket, type SocketWebSocketOptions } from './websocket-client.ts'

/**
 * Deno's fetch always decodes gzip and br (it has no `decompress: false`): the gateway then
 * negotiates those codings itself. Its `new Headers(headers)` is slow (~8 µs for a few headers):
 * the gateway builds header lists by appending. Pass it to `createGateway`.
 */
export const runtimeDeps: RuntimeDeps = Object.freeze({
  decodedEncodings: ['gzip', 'br'],
  headerBuild: 'append',
  // Upstream WebSockets over a socket of jwtgate's own, which can stop reading for a slow client.
  WebSocket: SocketWebSocket as unknown as WebSocketClient,
})

/**
 * Listens with Deno.serve and serves `servable` (a gateway, or any handler) with the client's
 * address and protocol. Resolves once listening; rejects when it cannot (the port is taken, a bad
 * certificate). Needs `--allow-net`.
 *
 * @example
 * import { createGateway, loadConfig } from 'jwtgate'
 * import { runtimeDeps, serve } from 'jwtgate/deno'
 *
 * const gateway = createGateway(await loadConfig(Deno.env.toObject()), runtimeDeps)
 * const server = await serve(gateway, { port: 8080 })
 * // later: gateway.drain(); await server.stop(); gateway.close()
 */
export function serve(servable: Servable, options: ServeOptions = {}): Promise<Server> {
  const handler = handlerOf(servable)
  const protocol = options.tls === undefined ? 'http' : 'https'
  const tls = options.tls === undefined ? {} : { cert: options.tls.cert, key: options.tls.key }
  return new Promise((resolve, reject) => {
    try {
      const abort = new AbortController()
      let shuttingDown = false
      // Every request gets the one shared upgrade function (the gateway uses it only for a
      // WebSocket handshake): asking each for its Upgrade header here would cost a Headers.get,
      // ~0.6 µs under Deno (measured), that the gateway asks again anyway.
      const connected = (request: Request, info: Deno.ServeHandlerInfo) =>
        handler(request, {
          clientAddress: (info.remoteAddr as Deno.NetAddr).hostname,
          protocol,
          upgrade: upgradeDeno,
        })
      const server = Deno.serve(
        {
          hostname: options.hostname ?? '0.0.0.0',
          port: options.port ?? 8080,
          reusePort: options.reusePort ?? false,
          ...tls,
          signal: abort.signal,
          onListen: (addr) =>
            resolve({
              port: (addr as Deno.NetAddr).port,
              async stop(force) {
                // After a graceful shutdown has begun the listener is closed: aborting it
                // again throws; Deno.exit ends the connections that are left.
                if (force && !shuttingDown) abort.abort()
                else if (!force) {
                  shuttingDown = true
                  await server.shutdown()
                }
                if (!force) await server.finished
              },
            }),
          // A handler that threw: the generic problem+json 500, reported to the logger.
          onError: (e) => failureResponse(e, options.logger),
        },
        connected,
      )
    } catch (e) {
      reject(e)
    }
  })
}

/** The client's end's events, passed to its relay (an EventListener object: no closures). */
class DenoClient {
  readonly #events: ClientEvents
  readonly #socket: WebSocket
  constructor(socket: WebSocket, events: ClientEvents) {
    this.#socket = socket
    this.#events = events
  }
  handleEvent(event: Event): void {
    if (event.type === 'message') this.#events.message((event as MessageEvent).data)
    else if (event.type === 'open') this.#events.opened(this.#socket)
    else if (event.type === 'close') {
      const close = event as CloseEvent
      // Deno reports 0 for a connection that dropped without a close frame: 1006, lost.
      this.#events.closed(close.code >= 1000 ? close.code : 1006, close.reason)
    }
  }
}

/** Upgrades a request with Deno.upgradeWebSocket (the gateway read its headers before). */
function upgradeDeno(request: Request, answer: WebSocketAnswer, events: ClientEvents): Response {
  const { socket, response } = Deno.upgradeWebSocket(request, {
    protocol: answer.protocol,
    idleTimeout: answer.idleTimeoutSec,
  })
  socket.binaryType = 'arraybuffer'
  const client = new DenoClient(socket, events)
  socket.addEventListener('open', client)
  socket.addEventListener('message', client)
  socket.addEventListener('close', client)
  for (const [name, value] of answer.headers) response.headers.set(name, value)
  return response
}
