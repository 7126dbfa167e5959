/**
 * @module The one shape every runtime adapter has (bun.ts, deno.ts, node.ts): `serve(handler,
 * options)` listens and resolves with a Server; `runtimeDeps` is what a gateway needs to know
 * about that runtime's fetch. The CLI hosts use the same adapters.
 */
import type { ConnectionInfo, Gateway, GatewayDeps } from '../core/gateway.ts'
import type { Logger } from '../core/log.ts'

/** A gateway's fetch, or any handler that takes the connection's facts. */
export type Handler = (request: Request, info: ConnectionInfo) => Response | Promise<Response>

/** Where and how an adapter's `serve` listens. Every field is optional. */
export interface ServeOptions {
  /** The address to listen on (default `0.0.0.0`). */
  readonly hostname?: string
  /** The port (default 8080; 0 picks a free one). */
  readonly port?: number
  /** PEM text of the certificate chain and key: serve HTTPS. */
  readonly tls?: { readonly cert: string; readonly key: string } | undefined
  /**
   * Close client connections silent this long (seconds; 0: never). Give the gateway the same as
   * `connectionIdleMs`, so that it does not also watch idle uploads in JavaScript.
   */
  readonly idleTimeoutSec?: number
  /**
   * Let other processes listen on the same address and port (SO_REUSEPORT): Linux then spreads
   * new connections over them. Bun and Deno; ignored by the Node adapter.
   */
  readonly reusePort?: boolean
  /**
   * Bun's server-wide WebSocket settings (Deno takes them per connection from the gateway): the
   * idle timeout (pings are sent; at most 960 s), the largest message (1009 above it) and the
   * gateway's bound on bytes waiting for a slow receiver. Pass the configuration's
   * (`config.websockets`); without them Bun's own apply, 120 s and 16 MB, and the gateway still
   * applies its caps.
   */
  readonly webSocket?: {
    readonly idleTimeoutSec: number
    readonly maxMessageBytes: number
    readonly maxBufferedBytes?: number
  }
  /**
   * Where a handler that throws or rejects is reported: `internal_error` at error, with its
   * request id and the error's name (never its message, which may carry a secret), and answered
   * with the generic problem+json 500. A `GatewayError` it throws is answered as the gateway
   * answers one (its status and problem), unlogged. A gateway's own `fetch` never throws.
   */
  readonly logger?: Logger
}

/** What an adapter's `serve` resolves with: the bound port, and a way to stop. */
export interface Server {
  /** The port actually bound (useful with port 0). */
  readonly port: number
  /**
   * Stops accepting connections and resolves once the requests in flight have finished; with
   * `force`, closes every connection at once.
   */
  stop(force?: boolean): Promise<void>
}

/** What `serve` accepts: a gateway, or a handler. */
export type Servable = Gateway | Handler

/** The handler of a Servable. */
export function handlerOf(servable: Servable): Handler {
  return typeof servable === 'function' ? servable : servable.fetch
}

/** GatewayDeps an adapter knows about its runtime. */
export type RuntimeDeps = Pick<
  GatewayDeps,
  'fetchInit' | 'decodedEncodings' | 'decodesStackedEncodings' | 'headerBuild' | 'WebSocket'
>
