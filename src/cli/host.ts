/**
 * @module What the command line needs from its runtime. Each entrypoint (bun.ts, deno.ts)
 * implements this once; the commands themselves are runtime-neutral.
 */
import type { ConnectionInfo, GatewayDeps } from '../core/gateway.ts'

export type Handler = (request: Request, info: ConnectionInfo) => Response | Promise<Response>

export interface Server {
  /** The port actually bound (useful with port 0). */
  readonly port: number
  /** Stops listening; with `force`, also closes open connections. */
  stop(force?: boolean): Promise<void>
}

export interface Host {
  /** e.g. `bun 1.4.5`. */
  readonly runtime: string
  readonly env: Readonly<Record<string, string | undefined>>
  readFile(path: string): string
  /** Writes a line (a newline is added) to standard output / standard error. */
  stdout(line: string): void
  stderr(line: string): void
  serve(handler: Handler, options: { readonly host: string; readonly port: number }): Promise<Server>
  /** Calls `listener` on SIGINT or SIGTERM. */
  onSignal(listener: (signal: string) => void): void
  /** Calls `listener` on SIGHUP (reload). */
  onReload(listener: () => void): void
  /** Calls `listener` when the file changes; returns a function that stops watching. */
  watchFile(path: string, listener: () => void): () => void
  /** Runtime-specific fetch behaviour for the gateway (see GatewayDeps). */
  readonly gatewayDeps: Pick<GatewayDeps, 'fetchInit' | 'decodedEncodings'>
}
