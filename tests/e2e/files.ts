/**
 * Helpers for the configuration-file suites (not collected: no `.test.`): temporary config files,
 * a gateway process whose signals a test can send (SIGHUP), JWK Set servers, and log events.
 */
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { JWK } from 'jose'
import { cleanEnv, listenAddress, ROOT, sleep, type Target } from '../helpers/process.ts'

/** A fresh temporary directory for config files; `remove()` deletes it and everything in it. */
export class TempDir {
  readonly dir = mkdtempSync(join(tmpdir(), 'jwtgate-'))
  #n = 0

  /** Writes `text` to `name` in the directory and returns its path. */
  write(name: string, text: string): string {
    const path = join(this.dir, name)
    writeFileSync(path, text)
    return path
  }

  /** Replaces `name` atomically (write a sibling, rename over), as editors and deploy tools do. */
  replace(name: string, text: string): string {
    const path = join(this.dir, name)
    const tmp = join(this.dir, `.${name}.${++this.#n}.tmp`)
    writeFileSync(tmp, text)
    renameSync(tmp, path)
    return path
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true })
  }
}

/** A JWK Set server on 127.0.0.1 (at /jwks) that counts the fetches it answered. */
export function jwksServer(keys: JWK[]) {
  const state = { keys, fetches: 0 }
  const server = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    fetch(request) {
      if (new URL(request.url).pathname !== '/jwks') return new Response('not found', { status: 404 })
      state.fetches++
      return Response.json({ keys: state.keys })
    },
  })
  return Object.assign(state, { url: `http://127.0.0.1:${server.port}/jwks`, stop: () => server.stop(true) })
}

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

/** A served gateway whose process a test can signal. */
export interface SignalledGateway {
  readonly url: string
  readonly port: number
  readonly pid: number
  stdout(): string
  output(): string
  events(name?: string): LogEvent[]
  signal(signal: 'SIGHUP' | 'SIGTERM'): void
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code. Safe to call twice. */
  kill(graceMs?: number): Promise<number>
}

const live = new Set<Bun.Subprocess>()
process.once('exit', () => {
  for (const proc of live) proc.kill('SIGKILL')
})

/**
 * `serve` under `target` with `env` (cleaned like process.ts does, plus JWTGATE_HOST=127.0.0.1 and
 * JWTGATE_PORT=0), waiting for the start line (bounded). Unlike process.ts's startGateway, it
 * exposes the child so that a test can send SIGHUP.
 */
export async function startSignalled(target: Target, env: Readonly<Record<string, string>>, timeoutMs = 10_000): Promise<SignalledGateway> {
  const proc = Bun.spawn({
    cmd: [...target.command, 'serve'],
    cwd: ROOT,
    env: cleanEnv({ JWTGATE_HOST: '127.0.0.1', JWTGATE_PORT: '0', ...env }),
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
  })
  live.add(proc)
  let out = ''
  let all = ''
  const pump = async (stream: ReadableStream<Uint8Array>, isStdout: boolean) => {
    const decoder = new TextDecoder()
    for await (const chunk of stream) {
      const s = decoder.decode(chunk, { stream: true })
      if (isStdout) out += s
      all += s
    }
  }
  const drained = Promise.all([pump(proc.stdout, true), pump(proc.stderr, false)]).catch(() => {})
  let exitedCode: number | undefined
  const exited = proc.exited.then(async (code) => {
    live.delete(proc)
    await drained
    exitedCode = code
    return code
  })
  const kill = async (graceMs = 3000) => {
    if (exitedCode === undefined) {
      proc.kill('SIGTERM')
      const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs)
      await proc.exited
      clearTimeout(timer)
    }
    return exited
  }

  let listen: string | undefined
  for (let waited = 0; listen === undefined; waited += 25) {
    listen = listenAddress(out)
    if (listen !== undefined) break
    if (exitedCode !== undefined || waited >= timeoutMs) {
      await kill()
      throw new Error(`${target.name} serve ${exitedCode !== undefined ? 'exited' : 'not ready'}:\n${all}`)
    }
    await sleep(25)
  }
  const port = Number(listen.slice(listen.lastIndexOf(':') + 1))
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    pid: proc.pid,
    stdout: () => out,
    output: () => all,
    events: (name) => logEvents(out).filter((e) => name === undefined || e.event === name),
    signal: (signal) => void proc.kill(signal),
    kill,
  }
}
