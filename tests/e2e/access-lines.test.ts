/**
 * Access lines on standard output behind a reader that falls behind: every line whole and none
 * lost at shutdown, from one process and from two workers. Workers write to pipes of their own
 * and the primary writes on whole lines (src/cli/workers/output.ts): sharing the gateway's
 * stdout, two workers cut each other's long lines under backpressure. And a process exits only
 * once its queued lines are out (src/bun.ts exitAfterOutput): Bun's callback of an empty write
 * came at once, and a shutdown dropped what the reader had not taken yet.
 */
import { afterAll, describe, expect, test } from 'bun:test'
import { secret, sign } from '../helpers/keys.ts'
import { cleanEnv, freePort, ROOT, TARGETS } from '../helpers/process.ts'
import { recordingUpstream } from '../helpers/serve.ts'
import { pollUntil } from '../helpers/wait.ts'

const REQUESTS = 1000
const CONCURRENCY = 40

for (const target of TARGETS) {
  describe(`${target.name}: access lines`, () => {
    const procs: ReturnType<typeof Bun.spawn>[] = []
    afterAll(() => {
      for (const p of procs) p.kill('SIGKILL')
    })

    test.each(['1', '2'])(
      '%s worker(s), long access lines, a reader that falls behind: every line, whole',
      async (workers) => {
        const upstream = await recordingUpstream()
        const key = secret(32)
        const port = freePort()
        const proc = Bun.spawn({
          cmd: [...target.command, 'serve'],
          cwd: ROOT,
          env: cleanEnv({
            JWTGATE_UPSTREAM: upstream.url,
            JWTGATE_SECRET: key.config,
            JWTGATE_HOST: '127.0.0.1',
            JWTGATE_PORT: String(port),
            JWTGATE_WORKERS: workers,
          }),
          stdin: 'ignore',
          stdout: 'pipe',
          stderr: 'ignore',
        })
        procs.push(proc)
        const token = await sign({ sub: 'ann' }, { alg: 'HS256', key: key.raw })
        await pollUntil(
          async () => {
            try {
              return (await fetch(`http://127.0.0.1:${port}/healthz`)).status === 200
            } catch {
              return false
            }
          },
          20_000,
          50,
        )
        // A slow reader, as a log shipper that falls behind: the pipe stays full, and each time
        // it takes some, the writers that queued meanwhile compete for the room.
        const chunks: Uint8Array[] = []
        let behind = true
        const reading = (async () => {
          for await (const chunk of proc.stdout) {
            chunks.push(chunk)
            if (behind) await Bun.sleep(2)
          }
        })()
        const path = `/x/${'a'.repeat(12_000)}`
        let next = 0
        let ok = 0
        const started = performance.now()
        await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
          while (next < REQUESTS && performance.now() - started < 30_000) {
            const i = next++
            const r = await fetch(`http://127.0.0.1:${port}${path}?i=${i}`, {
              headers: { authorization: `Bearer ${token}`, connection: 'close' },
            })
            await r.arrayBuffer()
            if (r.status === 200) ok++
          }
        }))
        expect(ok).toBe(REQUESTS)
        behind = false // it catches up
        proc.kill('SIGTERM')
        await reading
        const text = new TextDecoder().decode(Buffer.concat(chunks))
        expect(await proc.exited).toBe(0)
        const lines = text.split('\n').filter((l) => l !== '')
        const broken = lines.filter((l) => {
          try {
            JSON.parse(l)
            return false
          } catch {
            return true
          }
        })
        expect(broken.map((l) => l.slice(0, 80))).toEqual([])
        const served = lines.map((l) => JSON.parse(l)).filter((e) =>
          e.event === 'request' && String(e.path).startsWith('/x/')
        )
        expect(served.length).toBe(REQUESTS)
        await upstream.close()
      },
      60_000,
    )
  })
}
