/**
 * The Redis limit store against a real redis-server: the script computes what gcra.ts computes,
 * on Redis's clock, with keys that expire when the bucket is full again; NOSCRIPT after a restart
 * is handled; a dead or paused server rejects within the deadline.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test'
import type { Redis } from 'ioredis'
import { bucketOf, remainingOf, waitOf } from '../../src/core/limits/gcra.ts'
import { MemoryStore } from '../../src/core/limits/store.ts'
import { connectRedis } from '../../src/redis/client.ts'
import { RedisLimitStore } from '../../src/redis/limit-store.ts'
import { startRedis, type TestRedis } from '../helpers/redis.ts'

let redis: TestRedis
let client: Redis
let store: RedisLimitStore

beforeAll(async () => {
  redis = await startRedis()
  client = connectRedis({ url: redis.url, timeoutMs: 50, onFailure: 'local', prefix: 't:' })
  await new Promise((resolve) => client.once('ready', resolve))
  store = new RedisLimitStore(client, 't:')
})

afterAll(async () => {
  client.disconnect()
  await redis.kill()
})

test('the script takes a burst, then refuses with the wait gcra.ts computes', async () => {
  const bucket = bucketOf(3, 3000, 3)
  const check = { key: 'burst', bucket }
  const answers = []
  for (let i = 0; i < 4; i++) answers.push(await store.take([check], 0))
  expect(answers.map((a) => a.allowed)).toEqual([true, true, true, false])
  expect(answers.slice(0, 3).map((a) => remainingOf(a.ahead[0]!, bucket))).toEqual([2, 1, 0])
  const wait = waitOf(answers[3]!.ahead[0]!, bucket)
  expect(wait).toBeGreaterThan(950)
  expect(wait).toBeLessThanOrEqual(1000)
})

test('the same sequence gives the same verdicts as the memory store', async () => {
  const bucket = bucketOf(5, 500, 2)
  const memory = new MemoryStore()
  const redisVerdicts: boolean[] = []
  const memoryVerdicts: boolean[] = []
  const start = Date.now()
  for (let i = 0; i < 12; i++) {
    redisVerdicts.push((await store.take([{ key: 'same', bucket }], 0)).allowed)
    memoryVerdicts.push(memory.take([{ key: 'same', bucket }], start).allowed)
  }
  // Within a few ms both have taken the burst of 2 and refuse the rest.
  expect(redisVerdicts).toEqual(memoryVerdicts)
  expect(redisVerdicts.filter(Boolean).length).toBe(2)
})

test('several buckets: all or none, atomically', async () => {
  const wide = { key: 'wide', bucket: bucketOf(100, 60_000, 100) }
  const narrow = { key: 'narrow', bucket: bucketOf(1, 60_000, 1) }
  expect((await store.take([wide, narrow], 0)).allowed).toBe(true)
  const refused = await store.take([wide, narrow], 0)
  expect(refused.allowed).toBe(false)
  expect(waitOf(refused.ahead[0]!, wide.bucket)).toBe(0)
  // The refusal did not move the wide bucket: it holds one take.
  const tat = Number(await client.get('t:rl:wide'))
  const [seconds, micros] = (await client.time()) as [number, number]
  const aheadMs = (tat - (Number(seconds) * 1e6 + Number(micros))) / 1000
  expect(aheadMs).toBeGreaterThan(500)
  expect(aheadMs).toBeLessThanOrEqual(600)
})

test('a key expires when its bucket is full again', async () => {
  await store.take([{ key: 'ttl', bucket: bucketOf(2, 10_000, 2) }], 0)
  const ttl = await client.pttl('t:rl:ttl')
  expect(ttl).toBeGreaterThan(4000)
  expect(ttl).toBeLessThanOrEqual(5000)
})

test('concurrent takes from two clients never pass more than the limit', async () => {
  const other = connectRedis({ url: redis.url, timeoutMs: 200, onFailure: 'local', prefix: 't:' })
  await new Promise((resolve) => other.once('ready', resolve))
  try {
    const second = new RedisLimitStore(other, 't:')
    const check = { key: 'race', bucket: bucketOf(25, 60_000, 25) }
    const all = await Promise.all(
      Array.from({ length: 100 }, (_, i) => (i % 2 ? store : second).take([check], 0)),
    )
    expect(all.filter((a) => a.allowed).length).toBe(25)
  } finally {
    other.disconnect()
  }
})

test('NOSCRIPT after the script cache is flushed: loaded again', async () => {
  const check = { key: 'noscript', bucket: bucketOf(10, 1000, 10) }
  expect((await store.take([check], 0)).allowed).toBe(true)
  expect(await redis.command('SCRIPT FLUSH')).toBe('+OK')
  expect((await store.take([check], 0)).allowed).toBe(true)
})

test('a paused server: the take rejects within the deadline', async () => {
  const check = { key: 'paused', bucket: bucketOf(10, 1000, 10) }
  await store.take([check], 0)
  redis.pause()
  try {
    const started = performance.now()
    await expect(store.take([check], 0)).rejects.toThrow()
    expect(performance.now() - started).toBeLessThan(50 + 100)
  } finally {
    redis.resume()
  }
  // The late reply is dropped; the connection serves again.
  await Bun.sleep(100)
  expect((await store.take([check], 0)).allowed).toBe(true)
})

test('takes asked for in one turn go in one call, decided in order (a key taken twice sees its first take)', async () => {
  await redis.command('CONFIG RESETSTAT')
  const bucket = bucketOf(3, 60_000, 3)
  const answers = await Promise.all(
    Array.from({ length: 5 }, () => store.take([{ key: 'turn', bucket }], 0)),
  )
  expect(answers.map((a) => a.allowed)).toEqual([true, true, true, false, false])
  expect(answers.slice(0, 3).map((a) => remainingOf(a.ahead[0]!, bucket))).toEqual([2, 1, 0])
  const stats = await redis.command('INFO commandstats')
  expect(stats).toMatch(/cmdstat_evalsha:calls=1,/)
  expect(stats).toMatch(/cmdstat_set:calls=1,/)
  // What the call wrote is the last take's TAT.
  const pttl = await client.pttl('t:rl:turn')
  expect(pttl).toBeGreaterThan(59_000)
})

test('a TAT further ahead than a full bucket’s (Redis’s clock was set back) counts as a full bucket’s: refused for one interval, not for the step', async () => {
  const bucket = bucketOf(10, 60_000, 10) // 6 s an interval, 54 s of tolerance
  const [seconds, micros] = (await client.time()) as [number, number]
  const nowUs = Number(seconds) * 1e6 + Number(micros)
  // What a take an hour ahead left behind, as the clock now reads.
  await client.set('t:rl:stepped', String(nowUs + 3_600_000_000), 'PX', 3_600_000)
  const refused = await store.take([{ key: 'stepped', bucket }], 0)
  expect(refused.allowed).toBe(false)
  const wait = waitOf(refused.ahead[0]!, bucket)
  expect(wait).toBeGreaterThan(5_900)
  expect(wait).toBeLessThanOrEqual(6_000)
})
