/**
 * @module The Bun entrypoint (compiled into `dist/jwtgate`): Bun's server (the adapter embedders
 * use too: adapters/bun.ts), files and signals, handed to the runtime-neutral command line.
 */
import { appendFileSync, readFileSync, statSync, unwatchFile, watchFile, writeSync } from 'node:fs'
import { availableParallelism, networkInterfaces } from 'node:os'
import { MAX_IDLE_TIMEOUT_SEC, runtimeDeps, serve } from './adapters/bun.ts'
import { main } from './cli/main.ts'
import { checkReadable, utf8Text } from './core/config/secrets.ts'
import type { Host } from './cli/host.ts'

// The start-up line goes out with one write(2): the first `process.stdout.write` builds Node's
// stream machinery, ~12 ms of a compiled binary's start-up (measured on a pipe). Every later line
// goes through process.stdout, which never blocks the event loop on a slow reader. (Bun's own
// file sink, tried first, stopped delivering lines under load: a flush that never completed.)
let started = false
/**
 * The reader of stdout went away (EPIPE: `jwtgate | head`, a worker whose primary died): lines are
 * dropped from then on. Unhandled, the stream's error would end the process — a primary with its
 * workers, a draining worker with the requests it still serves.
 */
let stdoutGone = false
function writeLine(line: string): void {
  if (stdoutGone) return
  if (!started) {
    started = true
    try {
      writeSync(1, `${line}\n`)
      return
    } catch {
      // A non-blocking or closed stdout: the stream below.
    }
  }
  if (!streaming) {
    // Only now: process.stdout is built on first use (see above), never at start-up.
    streaming = true
    process.stdout.on('error', stdoutFailed)
  }
  unwritten++
  process.stdout.write(`${line}\n`, written)
}
let streaming = false
/**
 * Its reader gone (EPIPE): lines dropped from now on, and an exit waiting for them goes. Any other
 * error (a write that could not be made this time) costs that line only.
 */
function stdoutFailed(e: unknown): void {
  if ((e as { code?: string } | undefined)?.code !== 'EPIPE') return
  stdoutGone = true
  unwritten = 0
  if (exitCode !== undefined) process.exit(exitCode)
}

/**
 * A line to stderr — where a worker also sends its primary its messages. Its reader gone (EPIPE:
 * the primary was killed), the line is dropped: unhandled, the stream's error ends a Bun process
 * (measured: a script writing to a closed stderr pipe exits 1), and a worker would cut the
 * requests it still serves instead of draining them (it drains once its stdin closes).
 */
function writeErrorLine(line: string): void {
  if (!stderrWatched) {
    stderrWatched = true
    process.stderr.on('error', ignoreError)
  }
  process.stderr.write(`${line}\n`)
}
let stderrWatched = false
function ignoreError(): void {}

/** Lines given to process.stdout and not yet handed to the OS. */
let unwritten = 0
let exitCode: number | undefined
/** process.stdout's callback of each line (one shared function: no closure per line). */
function written(): void {
  if (--unwritten === 0 && exitCode !== undefined) process.exit(exitCode)
}

/**
 * Exits once every line written through process.stdout has been handed to the OS: a pipe's
 * writes are asynchronous, and process.exit drops what is still queued — with a reader that fell
 * behind, megabytes of access lines (a primary's, which writes on its workers' lines). Bun calls
 * the callback of an empty write at once, whatever is queued (measured: 64 KiB of 12 MB
 * delivered), so each line's own callback counts. A reader that never reads holds the exit 5 s
 * at most.
 */
function exitAfterOutput(code: number): void {
  if (unwritten === 0 || stdoutGone) process.exit(code)
  exitCode = code
  setTimeout(() => process.exit(code), 5000).unref()
}

const host: Host = {
  runtime: `bun ${Bun.version}`,
  env: process.env,
  readFile(path) {
    const stat = statSync(path)
    checkReadable({ isFile: stat.isFile(), size: stat.size })
    return utf8Text(readFileSync(path))
  },
  appendFile: (path, text) => appendFileSync(path, text),
  networks: () =>
    Object.values(networkInterfaces()).flatMap((list) =>
      (list ?? []).flatMap((n) => (n.cidr === null ? [] : [{ address: n.address, cidr: n.cidr }]))
    ),
  stdout: writeLine,
  stderr: writeErrorLine,
  serve: (servable, { host, port, tls, idleTimeoutSec, reusePort, webSocket }) =>
    serve(servable, { hostname: host, port, tls, idleTimeoutSec, reusePort, webSocket }),
  onSignal(listener) {
    process.on('SIGINT', () => listener('SIGINT'))
    process.on('SIGTERM', () => listener('SIGTERM'))
  },
  exit: (code) => process.exit(code),
  onReload(listener) {
    process.on('SIGHUP', listener)
  },
  watchFile(path, listener) {
    // Polling survives editors that replace the file instead of writing it in place.
    type Stat = { mtimeMs: number; size: number }
    // Two writes within one mtime tick still differ in size (appended revocations).
    const onChange = (now: Stat, before: Stat) =>
      (now.mtimeMs !== before.mtimeMs || now.size !== before.size) && listener()
    watchFile(path, { interval: 500 }, onChange)
    return () => unwatchFile(path, onChange)
  },
  maxIdleTimeoutSec: MAX_IDLE_TIMEOUT_SEC,
  gatewayDeps: runtimeDeps,
  platform: process.platform,
  pid: process.pid,
  cpuCount: availableParallelism,
  // Measured: one worker at full load keeps ~1.3 cores busy (JavaScript, and fetch's HTTP thread).
  coresPerWorker: 4 / 3,
  stdin: () => Bun.stdin.stream(),
  spawnWorker(env) {
    // A compiled binary is its own program (Bun.main is inside it); from source, bun runs Bun.main.
    const compiled = Bun.main.startsWith('/$bunfs/') || Bun.main.includes('~BUN')
    const command = compiled
      ? [process.execPath, ...process.argv.slice(2)]
      : [process.execPath, Bun.main, ...process.argv.slice(2)]
    const child = Bun.spawn(command, {
      env: { ...process.env, ...env },
      stdin: 'pipe',
      stdout: 'pipe',
      stderr: 'pipe',
    })
    return {
      pid: child.pid,
      write(text) {
        // Once the worker is gone these may reject (EPIPE): the channel's close handles that.
        const written = child.stdin.write(text) as unknown
        if (written instanceof Promise) written.catch(() => {})
        const flushed = child.stdin.flush() as unknown
        if (flushed instanceof Promise) flushed.catch(() => {})
      },
      stderr: child.stderr,
      stdout: child.stdout,
      exited: child.exited.then((code) => ({
        code: child.signalCode === null ? code : null,
        signal: child.signalCode === null ? null : String(child.signalCode),
      })),
      kill: (signal) => child.kill(signal),
    }
  },
}

if (import.meta.main) void main(process.argv.slice(2), host).then(exitAfterOutput)
