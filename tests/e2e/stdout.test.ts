/**
 * A gateway whose stdout reader goes away (`jwtgate | head -n1`, a log shipper that died) keeps
 * serving: its lines are dropped, never the process (a primary with its workers) — with one
 * process and with two workers, on both targets.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { secret, sign } from '../helpers/keys.ts'
import { cleanEnv, freePort, sleep, TARGETS } from '../helpers/process.ts'
import { type RecordingUpstream, recordingUpstream } from '../helpers/serve.ts'

const KEY = secret(32)
let upstream: RecordingUpstream

beforeAll(async () => {
  upstream = await recordingUpstream()
})
afterAll(async () => {
  await upstream.close()
})

for (const target of TARGETS) {
  for (const workers of ['1', '2']) {
    test(
      `${target.name}, ${workers} worker(s): stdout's reader gone, it goes on serving`,
      async () => {
        const port = freePort()
        const proc = Bun.spawn({
          cmd: [...target.command, 'serve'],
          env: cleanEnv({
            JWTGATE_UPSTREAM: upstream.url,
            JWTGATE_SECRET: KEY.config,
            JWTGATE_HOST: '127.0.0.1',
            JWTGATE_PORT: String(port),
            JWTGATE_WORKERS: workers,
            JWTGATE_LOG_LEVEL: 'info',
          }),
          stdin: 'ignore',
          stdout: 'pipe',
          stderr: 'pipe',
        })
        try {
          // Its start line, then the reader goes away (the pipe's read end closed).
          const reader = proc.stdout.getReader()
          const first = await reader.read()
          expect(new TextDecoder().decode(first.value)).toContain('"event":"start"')
          await reader.cancel()
          const token = await sign({ sub: 'alice' }, { alg: 'HS256', key: KEY.raw })
          const statuses: number[] = []
          for (let i = 0; i < 6; i++) {
            const r = await fetch(`http://127.0.0.1:${port}/x${i}`, {
              headers: { authorization: `Bearer ${token}` },
              signal: AbortSignal.timeout(5000),
            }).catch(() => undefined)
            statuses.push(r?.status ?? 0)
            await r?.arrayBuffer()
            await sleep(50) // each access line written (and failing) before the next request
          }
          expect(statuses).toEqual([200, 200, 200, 200, 200, 200])
          expect(proc.exitCode).toBeNull()
        } finally {
          proc.kill('SIGKILL')
          await proc.exited
        }
      },
      30_000,
    )
  }
}
