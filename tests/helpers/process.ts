/**
 * Spawning jwtgate the way a user runs it: the compiled binary or `deno run`, with a clean
 * environment, on a random port. Bun only (the end-to-end suite runs under `bun test`).
 */
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

/** A running jwtgate process. */
export interface Running {
  /** All of stdout and stderr so far, in arrival order. */
  output(): string
  stdout(): string
  stderr(): string
  /** Resolves with the exit code once the process has exited. */
  readonly exited: Promise<number>
  /** Resolves when `match` finds something in stdout; rejects on timeout or exit. */
  waitFor<T>(match: (stdout: string) => T | undefined, timeoutMs?: number): Promise<T>
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code. Safe to call twice. */
  kill(graceMs?: number): Promise<number>
}

/** A gateway that printed its start line. */
export interface Gateway extends Running {
  readonly url: string
  readonly port: number
}

const live = new Set<Bun.Subprocess>()
// Last resort: a runner that dies without running afterAll still leaves no gateway behind.
process.once('exit', () => {
  for (const proc of live) proc.kill('SIGKILL')
})

/** Starts `target` with `args`; the process is tracked until it exits. */
export function spawnTarget(target: Target, args: readonly string[], env: Readonly<Record<string, string>>): Running {
  const proc = Bun.spawn({
    cmd: [...target.command, ...args],
    cwd: ROOT,
    env: cleanEnv(env),
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
  })
  live.add(proc)
  let all = ''
  const text = { stdout: '', stderr: '' }
  const listeners = new Set<() => void>()
  const pump = async (stream: ReadableStream<Uint8Array>, name: 'stdout' | 'stderr') => {
    const decoder = new TextDecoder()
    for await (const chunk of stream) {
      const s = decoder.decode(chunk, { stream: true })
      text[name] += s
      all += s
      for (const l of listeners) l()
    }
  }
  const drained = Promise.all([pump(proc.stdout, 'stdout'), pump(proc.stderr, 'stderr')]).catch(() => {})
  let done = false
  const exited = proc.exited.then(async (code) => {
    live.delete(proc)
    await drained
    done = true
    for (const l of listeners) l()
    return code
  })

  return {
    output: () => all,
    stdout: () => text.stdout,
    stderr: () => text.stderr,
    exited,
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
          else if (done) finish(new Error(`${target.name} ${args.join(' ')} exited before it was ready:\n${all}`))
        }
        const timer = setTimeout(() => finish(new Error(`${target.name} ${args.join(' ')} not ready after ${timeoutMs} ms:\n${all}`)), timeoutMs)
        listeners.add(check)
        check()
      })
    },
    async kill(graceMs = 3000) {
      if (!done) {
        proc.kill('SIGTERM')
        const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs)
        await proc.exited
        clearTimeout(timer)
      }
      return exited
    },
  }
}

/** The `listen` address of the start line, JSON (`"listen":"h:p"`) or pretty (`listen=h:p`). */
export function listenAddress(stdout: string): string | undefined {
  for (const line of stdout.split('\n')) {
    if (line.startsWith('{')) {
      try {
        const event = JSON.parse(line) as { event?: unknown; listen?: unknown }
        if (event.event === 'start' && typeof event.listen === 'string') return event.listen
      } catch {
        // a partial line: wait for more
      }
    } else {
      const m = / INFO +start .*\blisten=(\S+)/.exec(line)
      if (m) return m[1]
    }
  }
  return undefined
}

/**
 * Starts a gateway (`serve`) with JWTGATE_HOST=127.0.0.1 and JWTGATE_PORT=0 unless `env` says
 * otherwise, and waits for its start line (10 s).
 */
export async function startGateway(target: Target, env: Readonly<Record<string, string>>): Promise<Gateway> {
  const running = spawnTarget(target, ['serve'], { JWTGATE_HOST: '127.0.0.1', JWTGATE_PORT: '0', ...env })
  let listen: string
  try {
    listen = await running.waitFor(listenAddress, 10_000)
  } catch (e) {
    await running.kill()
    throw e
  }
  const port = Number(listen.slice(listen.lastIndexOf(':') + 1))
  return Object.assign(running, { url: `http://127.0.0.1:${port}`, port })
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
