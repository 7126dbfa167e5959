/**
 * Spawning jwtgate the way a user runs it: the compiled binary or `deno run`, with a clean
 * environment, on a random port; the one spawner of the end-to-end and security suites (output,
 * log events, signals, exit code and exit time, an optional admin port). Bun only (those suites
 * run under `bun test`).
 */
import { closeSync, openSync, readSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export const ROOT = join(import.meta.dir, '..', '..')

/** A way to run jwtgate: the command that precedes the jwtgate arguments. */
export interface Target {
  readonly name: string
  readonly command: readonly string[]
}

export const BINARY: Target = { name: 'dist/jwtgate', command: [join(ROOT, 'dist', 'jwtgate')] }
export const DENO: Target = {
  name: 'deno run src/deno.ts',
  command: [join(ROOT, 'node_modules', '.bin', 'deno'), 'run', '-A', join(ROOT, 'src', 'deno.ts')],
}
/** The same configuration must behave the same under both. */
export const TARGETS: readonly Target[] = [BINARY, DENO]

/** PATH, HOME and the given variables only: the developer's JWTGATE_* (or proxies) never leak in. */
export function cleanEnv(vars: Readonly<Record<string, string>> = {}): Record<string, string> {
  const env: Record<string, string> = {}
  if (process.env.PATH !== undefined) env.PATH = process.env.PATH
  if (process.env.HOME !== undefined) env.HOME = process.env.HOME
  return { ...env, ...vars }
}

/** A port that was free a moment ago (bound on 127.0.0.1, then released). */
export function freePort(): number {
  const listener = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } })
  const port = listener.port
  listener.stop(true)
  return port
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** One JSON log line of the gateway. */
export type LogEvent = Record<string, unknown> & { event?: string }

/** Every JSON log line in `stdout` (partial or non-JSON lines skipped). */
export function logEvents(stdout: string): LogEvent[] {
  const out: LogEvent[] = []
  for (const line of stdout.split('\n')) {
    if (!line.startsWith('{')) continue
    try {
      out.push(JSON.parse(line) as LogEvent)
    } catch {
      // a line still being written
    }
  }
  return out
}

/** A running jwtgate process: its output, and its child process (signals, exit code, exit time). */
export interface Running {
  readonly pid: number
  /** All of stdout and stderr so far, in arrival order. */
  output(): string
  stdout(): string
  stderr(): string
  /** Resolves with the exit code once the process has exited and its output is drained. */
  readonly exited: Promise<number>
  /** performance.now() when the exit was seen, or undefined while it runs. */
  exitedAt(): number | undefined
  /** Sends `signal` to the process (e.g. SIGHUP to reload, SIGTERM/SIGINT to shut down). */
  signal(signal: NodeJS.Signals): void
  /** Resolves when `match` finds something in stdout; rejects on timeout or exit. */
  waitFor<T>(match: (stdout: string) => T | undefined, timeoutMs?: number): Promise<T>
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code. Safe to call twice. */
  kill(graceMs?: number): Promise<number>
}

/** A gateway that printed its start line. */
export interface Gateway extends Running {
  readonly url: string
  readonly port: number
  /** `http://127.0.0.1:ADMIN` when an admin port was asked for, else undefined. */
  readonly adminUrl: string | undefined
  /** The JSON log lines in stdout so far, all or only those whose `event` is `name`. */
  events(name?: string): LogEvent[]
  /**
   * What `pick` finds in the log lines whose `event` is `name`, once it finds it (3 s at most):
   * under workers an access line reaches stdout through the primary, a moment after the client
   * had its response — read one with this, not with `events` right after the request.
   */
  eventsUntil<T>(name: string, pick: (events: LogEvent[]) => T | undefined): Promise<T>
}

const live = new Set<Bun.Subprocess>()
// Last resort: a runner that dies without running afterAll still leaves no gateway behind.
process.once('exit', () => {
  for (const proc of live) proc.kill('SIGKILL')
})

/** Processes started by this test process, numbering their output files. */
let spawned = 0

/** Starts `target` with `args`; the process is tracked until it exits. */
export function spawnTarget(
  target: Target,
  args: readonly string[],
  env: Readonly<Record<string, string>>,
): Running {
  // The process writes its output to files, read every 10 ms. A pipe read through Bun's stream
  // stalled in this test process under CPU load: its lines stopped arriving while the process
  // went on serving, and the stream did not end even after SIGKILL (seen in CI and with two CPU
  // burners beside tests/e2e/websocket.test.ts: 3 failed runs in 9 on pipes, none in 7 on files).
  const base = join(tmpdir(), `jwtgate-e2e-${process.pid}-${++spawned}`)
  const files = { stdout: `${base}.out`, stderr: `${base}.err` }
  const proc = Bun.spawn({
    cmd: [...target.command, ...args],
    cwd: ROOT,
    env: cleanEnv(env),
    stdin: 'ignore',
    stdout: Bun.file(files.stdout),
    stderr: Bun.file(files.stderr),
  })
  live.add(proc)
  let all = ''
  const text = { stdout: '', stderr: '' }
  const listeners = new Set<() => void>()
  /** Each file's descriptor (once it exists), how far it was read, and its decoder. */
  const readers = {
    stdout: { fd: -1, at: 0, decoder: new TextDecoder() },
    stderr: { fd: -1, at: 0, decoder: new TextDecoder() },
  }
  const chunk = Buffer.alloc(64 * 1024)
  /** The process exited and its output was read to the end: the files are gone. */
  let finished = false
  /** Takes in what the files gained since the last read; tells the listeners when they did. */
  const read = () => {
    if (finished) return
    let grew = false
    for (const name of ['stdout', 'stderr'] as const) {
      const r = readers[name]
      if (r.fd < 0) {
        try {
          r.fd = openSync(files[name], 'r')
        } catch {
          continue // not created yet
        }
      }
      for (;;) {
        const n = readSync(r.fd, chunk, 0, chunk.length, r.at)
        if (n === 0) break
        r.at += n
        const s = r.decoder.decode(chunk.subarray(0, n), { stream: true })
        text[name] += s
        all += s
        grew = true
      }
    }
    if (grew) { for (const l of listeners) l() }
  }
  const poll = setInterval(read, 10)
  const drained = proc.exited.then(() => {
    clearInterval(poll)
    read()
    finished = true
    for (const name of ['stdout', 'stderr'] as const) {
      if (readers[name].fd >= 0) closeSync(readers[name].fd)
      readers[name].fd = -1
      rmSync(files[name], { force: true })
    }
  })
  let exitedAt: number | undefined
  let done = false
  const exited = proc.exited.then(async (code) => {
    exitedAt = performance.now()
    live.delete(proc)
    await drained
    done = true
    for (const l of listeners) l()
    return code
  })

  return {
    pid: proc.pid,
    // Read at once, not at the next poll: a test reads a line right after its response.
    output: () => (read(), all),
    stdout: () => (read(), text.stdout),
    stderr: () => (read(), text.stderr),
    exited,
    exitedAt: () => exitedAt,
    signal: (signal) => void proc.kill(signal),
    waitFor<T>(match: (stdout: string) => T | undefined, timeoutMs = 10_000): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        const finish = (error?: Error, value?: T) => {
          clearTimeout(timer)
          listeners.delete(check)
          if (error) reject(error)
          else resolve(value as T)
        }
        const check = () => {
          const found = match(text.stdout)
          if (found !== undefined) finish(undefined, found)
          else if (done) {
            finish(
              new Error(`${target.name} ${args.join(' ')} exited before it was ready:\n${all}`),
            )
          }
        }
        const timer = setTimeout(
          () =>
            finish(
              new Error(
                `${target.name} ${args.join(' ')} not ready after ${timeoutMs} ms:\n${all}`,
              ),
            ),
          timeoutMs,
        )
        listeners.add(check)
        check()
      })
    },
    async kill(graceMs = 3000) {
      if (exitedAt === undefined) {
        proc.kill('SIGTERM')
        const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs)
        await proc.exited
        clearTimeout(timer)
      }
      return exited
    },
  }
}

/**
 * The `listen` address (or `field`'s: `admin`) of the start line, JSON (`"listen":"h:p"`) or
 * pretty (`listen=h:p`).
 */
export function listenAddress(stdout: string, field = 'listen'): string | undefined {
  for (const line of stdout.split('\n')) {
    if (line.startsWith('{')) {
      try {
        const event = JSON.parse(line) as Record<string, unknown>
        if (event.event === 'start' && typeof event[field] === 'string') {
          return event[field] as string
        }
      } catch {
        // a partial line: wait for more
      }
    } else {
      const m = new RegExp(` INFO +start .*\\b${field}=(\\S+)`).exec(line)
      if (m) return m[1]
    }
  }
  return undefined
}

/** Options of `startGateway`. */
export interface GatewayOptions {
  /**
   * Also listen on an admin port (then `adminUrl` is set): JWTGATE_ADMIN_PORT=0, the port the
   * start line reports — never one picked before, which another process could take meanwhile.
   */
  readonly admin?: boolean
  /** How long to wait for the start line (default 10 s). */
  readonly timeoutMs?: number
}

/**
 * Starts a gateway (`serve`) with JWTGATE_HOST=127.0.0.1 and JWTGATE_PORT=0 unless `env` says
 * otherwise (and, with `admin`, a free JWTGATE_ADMIN_PORT), and waits for its start line.
 */
export async function startGateway(
  target: Target,
  env: Readonly<Record<string, string>>,
  options: GatewayOptions = {},
): Promise<Gateway> {
  const vars: Record<string, string> = { JWTGATE_HOST: '127.0.0.1', JWTGATE_PORT: '0', ...env }
  if (options.admin && vars.JWTGATE_ADMIN_PORT === undefined) vars.JWTGATE_ADMIN_PORT = '0'
  const running = spawnTarget(target, ['serve'], vars)
  let listen: string
  try {
    listen = await running.waitFor(listenAddress, options.timeoutMs ?? 10_000)
  } catch (e) {
    await running.kill()
    throw e
  }
  const portOf = (address: string) => Number(address.slice(address.lastIndexOf(':') + 1))
  const port = portOf(listen)
  const admin = options.admin ? listenAddress(running.stdout(), 'admin') : undefined
  return Object.assign(running, {
    url: `http://127.0.0.1:${port}`,
    port,
    adminUrl: admin === undefined ? undefined : `http://127.0.0.1:${portOf(admin)}`,
    events: (name?: string) => events(running.stdout(), name),
    eventsUntil: <T>(name: string, pick: (events: LogEvent[]) => T | undefined) =>
      running.waitFor((stdout) => pick(events(stdout, name)), 3000).catch(() => {
        throw new Error(`no "${name}" log lines as expected within 3 s:\n${running.stdout()}`)
      }),
  })
}

/** The JSON log lines of `stdout`, all or only those whose `event` is `name`. */
function events(stdout: string, name: string | undefined): LogEvent[] {
  return logEvents(stdout).filter((e) => name === undefined || e.event === name)
}

/** Runs `target` with `args` to completion (bounded by `timeoutMs`). */
export async function runTarget(
  target: Target,
  args: readonly string[],
  env: Readonly<Record<string, string>>,
  timeoutMs = 10_000,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const running = spawnTarget(target, args, env)
  const timer = setTimeout(() => void running.kill(500), timeoutMs)
  const code = await running.exited
  clearTimeout(timer)
  return { code, stdout: running.stdout(), stderr: running.stderr() }
}
