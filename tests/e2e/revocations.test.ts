/**
 * Revocation end to end (issue 14), with the binary and `deno run`: through Redis, a revocation
 * posted to one gateway's admin listener (a primary with two workers) is refused by another
 * gateway within 100 ms, and `jwtgate revoke` reaches both; the admin listener takes no write
 * without its credential; Redis restarted empty gets the revocations back from the running
 * gateways, so one started afterwards refuses them too. One instance without Redis: the
 * revocations file, appended by `jwtgate revoke` and reloaded by the gateway.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { TempDir } from '../helpers/files.ts'
import { secret, sign } from '../helpers/keys.ts'
import { type Gateway, runTarget, startGateway, TARGETS } from '../helpers/process.ts'
import { startRedis, type TestRedis } from '../helpers/redis.ts'
import { type RecordingUpstream, recordingUpstream } from '../helpers/serve.ts'
import { pollUntil } from '../helpers/wait.ts'

const ADMIN_TOKEN = 'e2e-admin-token-0123456789abcdef0123'

async function status(gateway: Gateway, token: string): Promise<number> {
  const response = await fetch(`${gateway.url}/api/x`, {
    headers: { authorization: `Bearer ${token}` },
    signal: AbortSignal.timeout(5000),
  })
  await response.arrayBuffer()
  return response.status
}

function post(gateway: Gateway, body: unknown, token?: string): Promise<Response> {
  return fetch(`${gateway.adminUrl}/revocations`, {
    method: 'POST',
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(5000),
  })
}

for (const target of TARGETS) {
  describe(`${target.name}: revocations`, () => {
    const key = secret(32)
    const files = new TempDir()
    let redis: TestRedis
    let upstream: RecordingUpstream
    const gateways: Gateway[] = []
    const token = (claims: Record<string, unknown>) =>
      sign({ iat: Math.floor(Date.now() / 1000) - 5, ...claims }, { alg: 'HS256', key: key.raw })
    const base = () => ({
      JWTGATE_UPSTREAM: upstream.url,
      JWTGATE_SECRET: key.config,
    })
    const start = async (vars: Record<string, string>) => {
      const g = await startGateway(target, vars, { admin: true, timeoutMs: 20_000 })
      gateways.push(g)
      return g
    }

    beforeAll(async () => {
      ;[redis, upstream] = await Promise.all([startRedis(), recordingUpstream()])
    })
    afterAll(async () => {
      await Promise.all(gateways.map((g) => g.kill()))
      await redis?.kill()
      await upstream?.close()
      files.remove()
    })

    test(
      'through Redis: posted to one gateway, refused by another within 100 ms; jwtgate revoke reaches both',
      async () => {
        const env = { ...base(), JWTGATE_REDIS_URL: redis.url }
        const [a, b] = await Promise.all([
          start({ ...env, JWTGATE_WORKERS: '2', JWTGATE_ADMIN_TOKEN: ADMIN_TOKEN }),
          start({ ...env, JWTGATE_WORKERS: '1' }),
        ])
        const alice = await token({ sub: 'alice' })
        const bob = await token({ sub: 'bob' })
        expect([await status(a, alice), await status(b, alice)]).toEqual([200, 200])

        const posted = await post(a, { sub: 'alice' }, ADMIN_TOKEN)
        const at = performance.now()
        expect(posted.status).toBe(201)
        expect((await posted.json()).revoked[0]).toMatchObject({ sub: 'alice' })
        await pollUntil(async () => (await status(b, alice)) === 401, 2000, 5)
        expect(performance.now() - at).toBeLessThan(100)
        expect(await status(a, alice)).toBe(401)
        expect([await status(a, bob), await status(b, bob)]).toEqual([200, 200])

        // The command line, with the gateways' configuration.
        const jti = await token({ sub: 'carol', jti: 'ticket-7' })
        expect(await status(b, jti)).toBe(200)
        const cli = await runTarget(target, ['revoke', '--jti', 'ticket-7'], env, 20_000)
        expect(cli.stderr).toBe('')
        expect(cli.code).toBe(0)
        expect(cli.stdout).toMatch(/^revoked \{"jti":"ticket-7","until":\d+\}\n$/)
        await pollUntil(async () => (await status(a, jti)) === 401, 2000, 5)
        expect(await status(b, jti)).toBe(401)
        const body = await (await fetch(`${b.url}/api/x`, {
          headers: { authorization: `Bearer ${jti}` },
        })).json()
        expect(body.code).toBe('token_revoked')

        // Without the credential, or where none is configured: no write.
        expect((await post(a, { sub: 'bob' })).status).toBe(401)
        expect((await post(a, { sub: 'bob' }, `${ADMIN_TOKEN}x`)).status).toBe(401)
        expect((await post(b, { sub: 'bob' }, ADMIN_TOKEN)).status).toBe(403)
        expect(await status(b, bob)).toBe(200)
        // Two entries, held by each of two workers: counted once (the least of the workers').
        const revocations = async () =>
          /^jwtgate_revocations (\d+)$/m.exec(
            await (await fetch(`${a.adminUrl}/metrics`)).text(),
          )?.[1]
        await pollUntil(async () => (await revocations()) === '2', 2000, 20)
        expect(await revocations()).toBe('2')
      },
      60_000,
    )

    test('Redis restarted empty: the running gateways write the revocations back', async () => {
      const env = { ...base(), JWTGATE_REDIS_URL: redis.url }
      const a = await start(env)
      const dave = await token({ sub: 'dave' })
      const cli = await runTarget(target, ['revoke', '--sub', 'dave'], env, 20_000)
      expect(cli.code).toBe(0)
      await pollUntil(async () => (await status(a, dave)) === 401, 2000, 10)
      await redis.kill()
      await redis.restart()
      // Every running gateway (this test's and the one before's) holds dave; whichever syncs
      // first writes him back.
      await pollUntil(
        async () => /"sub":"dave"/.test(await redis.command('ZRANGE jwtgate:rv 0 -1')),
        15_000,
        50,
      )
      // Its log line follows the write (a line on the gateway's stdout, read by this test).
      await pollUntil(
        () => gateways.some((g) => g.events('revocations_restored').length > 0),
        5000,
        20,
      )
      const later = await start(env)
      expect(await status(later, dave)).toBe(401)
      expect(await status(a, dave)).toBe(401)
    }, 60_000)

    test(
      'one instance, no Redis: the revocations file, appended by jwtgate revoke and reloaded',
      async () => {
        const path = `${files.write('placeholder', '')}.revoked.jsonl`
        const env = { ...base(), JWTGATE_REVOCATIONS_FILE: path, JWTGATE_WORKERS: '1' }
        const g = await start({ ...env, JWTGATE_ADMIN_TOKEN: ADMIN_TOKEN })
        const erin = await token({ sub: 'erin' })
        const frank = await token({ sub: 'frank' })
        expect(await status(g, erin)).toBe(200)
        const cli = await runTarget(target, ['revoke', '--sub', 'erin'], env, 20_000)
        expect(cli.code).toBe(0)
        await pollUntil(async () => (await status(g, erin)) === 401, 3000, 50)
        expect((await post(g, { sub: 'frank' }, ADMIN_TOKEN)).status).toBe(201)
        expect(await status(g, frank)).toBe(401)
        const lines = readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l))
        expect(lines.map((l) => l.sub)).toEqual(['erin', 'frank'])
      },
      60_000,
    )
  })
}
