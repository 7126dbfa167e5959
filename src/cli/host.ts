/**
 * @module What the command line needs from its runtime. Each entrypoint (bun.ts, deno.ts)
 * implements this once; the commands themselves are runtime-neutral.
 */
import type { Handler, RuntimeDeps, Servable, Server } from '../adapters/types.ts'

export type { Handler, Server }

export interface ServeOptions {
  readonly host: string
  readonly port: number
  readonly tls?: { readonly cert: string; readonly key: string } | undefined
  /** Close connections silent for this many seconds (0 or absent: never). Only when `Host.maxIdleTimeoutSec` allows it. */
  readonly idleTimeoutSec?: number
  /** Share the port with the other workers (SO_REUSEPORT). */
  readonly reusePort?: boolean
  /** Bun's server-wide WebSocket settings (the adapter's `ServeOptions.webSocket`). */
  readonly webSocket?: {
    readonly idleTimeoutSec: number
    readonly maxMessageBytes: number
    readonly maxBufferedBytes: number
  }
}

/** A worker process the primary started (`Host.spawnWorker`). */
export interface WorkerProcess {
  readonly pid: number
  /** Writes to its standard input (the primary's messages); throws once it is gone. */
  write(text: string): void
  /** Its standard error: its messages to the primary, and anything else it writes there. */
  readonly stderr: ReadableStream<Uint8Array>
  /**
   * Its standard output (access and event lines), a pipe of its own: the primary writes it on in
   * whole lines (workers/output.ts).
   */
  readonly stdout: ReadableStream<Uint8Array>
  /** Resolves when it has ended: with its exit code, or the signal that ended it. */
  readonly exited: Promise<{ readonly code: number | null; readonly signal: string | null }>
  kill(signal: 'SIGTERM' | 'SIGKILL'): void
}

export interface Host {
  /** e.g. `bun 1.4.5`. */
  readonly runtime: string
  readonly env: Readonly<Record<string, string | undefined>>
  readFile(path: string): string
  /** The machine's network interfaces' addresses and their networks (CIDR). */
  networks(): readonly { readonly address: string; readonly cidr: string }[]
  /** Appends `text` to the file at `path`, creating it if absent (the revocations file). */
  appendFile(path: string, text: string): void
  /** Writes a line (a newline is added) to standard output / standard error. */
  stdout(line: string): void
  stderr(line: string): void
  /** Listens; with `tls` (PEM text), serves HTTPS. Rejects when it cannot listen. */
  serve(servable: Servable, options: ServeOptions): Promise<Server>
  /** Calls `listener` on every SIGINT or SIGTERM. */
  onSignal(listener: (signal: string) => void): void
  /** Ends the process at once (a second shutdown signal). */
  exit(code: number): void
  /** Calls `listener` on SIGHUP (reload). */
  onReload(listener: () => void): void
  /** Calls `listener` when the file changes; returns a function that stops watching. */
  watchFile(path: string, listener: () => void): () => void
  /**
   * The longest connection idle timeout the server enforces (`ServeOptions.idleTimeoutSec`), or
   * undefined when it has none. Bun: 255 s. Deno's server has no such setting.
   */
  readonly maxIdleTimeoutSec?: number
  /** Runtime-specific fetch behaviour for the gateway (see GatewayDeps). */
  readonly gatewayDeps: RuntimeDeps
  /** `linux`, `darwin`, `windows`, … */
  readonly platform: string
  readonly pid: number
  /** The CPUs this process may run on (its affinity). */
  cpuCount(): number
  /** The cores one worker keeps busy at full load on this runtime (JWTGATE_WORKERS=auto). */
  readonly coresPerWorker: number
  /** Standard input, as bytes: a worker's messages from its primary. */
  stdin(): ReadableStream<Uint8Array>
  /**
   * Starts this program again with the same arguments and `env` added to the environment: a
   * worker. Its standard input and error are pipes to the primary; its output is the primary's.
   * Throws when it cannot (a runtime that was not given the permission).
   */
  spawnWorker(env: Readonly<Record<string, string>>): WorkerProcess
}
