/**
 * Rate limits shared through a real redis-server (issue 14), with the binary and `deno run`:
 * two gateway processes (one of them with two workers) share one limit — N allowed in total, not
 * N per process; Redis paused and then killed under load: no request waits longer than the
 * deadline plus a margin, the limits fall back to each instance's own, each change is logged once;
 * Redis started again: the gateways find it by themselves and share the limit again; a gateway
 * started while Redis is down starts anyway and finds it later.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { secret, sign } from '../helpers/keys.ts'
import { type Gateway, sleep, startGateway, TARGETS } from '../helpers/process.ts'
import { startRedis, type TestRedis } from '../helpers/redis.ts'
import { type RecordingUpstream, recordingUpstream } from '../helpers/serve.ts'
import { TempDir } from '../helpers/files.ts'
import { pollUntil } from '../helpers/wait.ts'

/** The store deadline the gateways run with, and what a request may take beyond it here. */
const DEADLINE_MS = 50
const MARGIN_MS = 250

for (const target of TARGETS) {
  describe(`${target.name}: rate limits in Redis`, () => {
    const key = secret(32)
    const files = new TempDir()
    let redis: TestRedis
    let upstream: RecordingUpstream
    let a: Gateway
    let b: Gateway
    let alice: string
    let configPath: string

    beforeAll(async () => {
      redis = await startRedis()
      upstream = await recordingUpstream()
      configPath = files.write(
        'jwtgate.yaml',
        `
providers:
  main: { secret: "${key.config}" }
upstreams:
  api: { url: "${upstream.url}" }
routes:
  - { name: api, path: /api/*, upstream: api }
  - { name: open, path: /open/*, upstream: api, auth: public }
rateLimits:
  per-user: { rate: 6/1m, key: sub, routes: [api] }
  per-key: { rate: 4/1m, key: "header:X-Api-Key", routes: [open] }
  roomy: { rate: 100000/1m, key: address, routes: [open] }
`,
      )
      const env = {
        JWTGATE_CONFIG: configPath,
        JWTGATE_REDIS_URL: redis.url,
        JWTGATE_REDIS_TIMEOUT: `${DEADLINE_MS}ms`,
      }
      ;[a, b] = await Promise.all([
        startGateway(target, { ...env, JWTGATE_WORKERS: '2' }, { admin: true }),
        startGateway(target, { ...env, JWTGATE_WORKERS: '1' }, { admin: true }),
      ])
      alice = await sign({ sub: 'alice' }, { alg: 'HS256', key: key.raw })
    }, 30_000)

    afterAll(async () => {
      await Promise.all([a?.kill(), b?.kill()])
      await redis?.kill()
      await upstream?.close()
      files.remove()
    })

    /** `count` requests to one gateway, on fresh connections; their statuses. */
    async function alternateOn(
      g: Gateway,
      path: string,
      headers: Record<string, string>,
      count: number,
    ) {
      const statuses: number[] = []
      for (let i = 0; i < count; i++) {
        const response = await fetch(`${g.url}${path}`, {
          headers: { ...headers, connection: 'close' },
          signal: AbortSignal.timeout(5000),
        })
        await response.arrayBuffer()
        statuses.push(response.status)
      }
      return statuses
    }

    /** `count` requests alternating between the two gateways, on fresh connections. */
    async function alternate(path: string, headers: Record<string, string>, count: number) {
      const statuses: number[] = []
      const responses: Response[] = []
      for (let i = 0; i < count; i++) {
        const response = await fetch(`${(i % 2 ? b : a).url}${path}`, {
          headers: { ...headers, connection: 'close' },
          signal: AbortSignal.timeout(5000),
        })
        await response.arrayBuffer()
        statuses.push(response.status)
        responses.push(response)
      }
      return { statuses, responses }
    }

    test('two gateways (one with two workers) share one limit: N in total, not N per process', async () => {
      const { statuses, responses } = await alternate(
        '/api/x',
        { authorization: `Bearer ${alice}` },
        12,
      )
      expect(statuses.filter((s) => s === 200).length).toBe(6)
      expect(statuses.slice(0, 6)).toEqual([200, 200, 200, 200, 200, 200])
      const refused = responses[6]!
      expect(refused.status).toBe(429)
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(9)
      expect(refused.headers.get('ratelimit-policy')).toBe('"per-user";q=6;w=60')
      expect(responses[0]!.headers.get('ratelimit')).toBe('"per-user";r=5;t=10')
      // Another subject is not touched by alice's bucket.
      const bob = await sign({ sub: 'bob' }, { alg: 'HS256', key: key.raw })
      expect((await alternate('/api/x', { authorization: `Bearer ${bob}` }, 2)).statuses)
        .toEqual([200, 200])
      // The buckets are in Redis, under the prefix, with a TTL.
      expect(await redis.command('KEYS jwtgate:rl:per-user:*')).toMatch(/^\*2/)
    })

    test(
      'Redis paused, then killed, under load: no request waits past the deadline; limits fall back; Redis back: shared again',
      async () => {
        // A bounded load: 4 loops, 2 s, each request timed.
        const latencies: number[] = []
        const statuses: number[] = []
        let stop = false
        const loop = async (gateway: Gateway, n: number) => {
          for (let i = 0; !stop && i < 2000; i++) {
            const started = performance.now()
            const response = await fetch(`${gateway.url}/open/load`, {
              headers: { 'x-api-key': `load-${n}-${i}`, connection: 'close' },
              signal: AbortSignal.timeout(5000),
            })
            await response.arrayBuffer()
            latencies.push(performance.now() - started)
            statuses.push(response.status)
          }
        }
        const loops = [loop(a, 1), loop(a, 2), loop(b, 3), loop(b, 4)]
        await sleep(300)
        redis.pause()
        await sleep(600)
        await redis.kill()
        await sleep(600)
        stop = true
        await Promise.all(loops)
        expect(statuses.length).toBeGreaterThan(100)
        expect(statuses.every((s) => s === 200)).toBe(true)
        expect(Math.max(...latencies)).toBeLessThan(DEADLINE_MS + MARGIN_MS)
        for (const g of [a, b]) {
          await pollUntil(() => g.events('store_down').length > 0, 2000)
          // One line per process and change (the first gateway has two workers).
          expect(g.events('store_down').length).toBeLessThanOrEqual(g === a ? 2 : 1)
          expect(g.events('store_down')[0]!.fallback).toBe('local')
          // Paused first: the breaker opened on deadlines, before the server was gone.
          expect(String(g.events('store_down')[0]!.error)).toMatch(/timed out/i)
        }

        // Down: each process counts in its own buckets — 4 per process for one API key.
        const down = await alternate('/open/x', { 'x-api-key': 'while-down' }, 8)
        expect(down.statuses).toEqual(new Array(8).fill(200))
        const metrics = await (await fetch(`${b.adminUrl}/metrics`)).text()
        expect(metrics).toMatch(/jwtgate_store_up\{store="redis"\} 0/)
        expect(metrics).toMatch(/jwtgate_store_fallbacks_total\{store="redis"\} [1-9]/)

        // Back: found again without restarting the gateways (a probe per second).
        await redis.restart()
        await pollUntil(async () => {
          await alternate('/open/probe', { 'x-api-key': `probe-${Math.random()}` }, 2)
          return a.events('store_up').length >= 1 && b.events('store_up').length === 1
        }, 10_000)
        // Keep probing until every process that went down is back.
        await pollUntil(async () => {
          await alternate('/open/probe', { 'x-api-key': `probe-${Math.random()}` }, 4)
          return a.events('store_up').length === a.events('store_down').length
        }, 10_000)
        const back = await alternate('/open/x', { 'x-api-key': 'after-secret-key' }, 8)
        expect(back.statuses).toEqual([200, 200, 200, 200, 429, 429, 429, 429])
        // A header's bucket is named by a hash of the header: the key itself is not in Redis.
        expect(await redis.command('KEYS jwtgate:rl:per-key:*')).toMatch(/^\*[1-9]/)
        expect(await redis.command('KEYS *after-secret-key*')).toBe('*0')
      },
      40_000,
    )

    test(
      'Redis down at start: the gateway starts anyway (after at most 3 s), limits each on its own, and finds Redis when it comes',
      async () => {
        const later = await startRedis()
        await later.kill()
        const started = performance.now()
        const g = await startGateway(target, {
          JWTGATE_CONFIG: configPath,
          JWTGATE_REDIS_URL: later.url,
          JWTGATE_REDIS_TIMEOUT: `${DEADLINE_MS}ms`,
          JWTGATE_WORKERS: '1',
        }, { timeoutMs: 20_000 })
        try {
          expect(performance.now() - started).toBeLessThan(10_000)
          const local = await alternateOn(g, '/open/x', { 'x-api-key': 'at-start' }, 6)
          expect(local).toEqual([200, 200, 200, 200, 429, 429])
          await pollUntil(() => g.events('store_down').length === 1, 5000, 20)
          await later.restart()
          await pollUntil(async () => {
            await alternateOn(g, '/open/y', { 'x-api-key': `probe-${Math.random()}` }, 1)
            return g.events('store_up').length === 1
          }, 10_000)
          await pollUntil(() => g.events('revocations_synced').length >= 1, 5000, 20)
        } finally {
          await g.kill()
          await later.kill()
        }
      },
      60_000,
    )
  })
}
