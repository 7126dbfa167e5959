/**
 * Files read for configuration, by the real entrypoints (src/bun.ts, src/deno.ts): a FIFO or a
 * device is refused before it is opened (a read would block `check`, and at a reload the server),
 * and the file's problem is said.
 */
import { expect, test } from 'bun:test'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const root = join(import.meta.dir, '..', '..')
const bin = (name: string) => join(root, 'node_modules', '.bin', name)

for (
  const [runtime, args] of [
    ['bun', [bin('bun'), join(root, 'src', 'bun.ts')]],
    ['deno', [bin('deno'), 'run', '-A', join(root, 'src', 'deno.ts')]],
  ] as const
) {
  test(`${runtime}: a secret file that is a FIFO or a device is refused at once, not read`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'jwtgate-files-'))
    try {
      const fifo = join(dir, 'secret')
      expect(spawnSync('mkfifo', [fifo]).status).toBe(0)
      for (const path of [fifo, '/dev/zero']) {
        const started = Date.now()
        const run = spawnSync(args[0], [...args.slice(1), 'check'], {
          env: {
            PATH: process.env.PATH,
            HOME: process.env.HOME,
            JWTGATE_UPSTREAM: 'http://127.0.0.1:9',
            JWTGATE_SECRET_FILE: path,
            DENO_NO_UPDATE_CHECK: '1',
          },
          encoding: 'utf8',
          timeout: 20_000,
        })
        expect(run.status).toBe(1)
        expect(run.stderr).toContain(
          'JWTGATE_SECRET_FILE: cannot read the file it names: not a regular file',
        )
        expect(Date.now() - started).toBeLessThan(15_000)
      }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, 45_000)
}
