import assert from 'node:assert/strict'
import { parseDuration } from '../../src/core/config/values.ts'
import { GuardedStore } from '../../src/core/limits/guarded.ts'
import { MemoryStore } from '../../src/core/limits/store.ts'
import {
  addressKey,
  parseRateLimit,
  RateLimiter,
  SharedLimiter,
  StoreLimiter,
  subjectKey,
  tokenKey,
} from '../../src/core/rate-limit.ts'
import { clientBucket } from '../../src/core/limits/client.ts'
import { bucketOf, takeAll } from '../../src/core/limits/gcra.ts'
import { test } from '../helpers/t.ts'

test('parseRateLimit() reads N/period', () => {
  assert.deepEqual(parseRateLimit('100/1m'), { limit: 100, periodMs: 60_000 })
  assert.deepEqual(parseRateLimit('10/s'), { limit: 10, periodMs: 1000 })
  assert.deepEqual(parseRateLimit(' 5 / 2h '), { limit: 5, periodMs: 7_200_000 })
  for (const bad of ['100', '0/1s', 'x/1s', '10/1d', '10/0s']) {
    assert.equal(parseRateLimit(bad), undefined, bad)
  }
  // A request costs at least 10 µs (Redis's script rounds to whole µs); a period is at most a year.
  assert.deepEqual(parseRateLimit('100000/1s'), { limit: 100_000, periodMs: 1000 })
  for (
    const bad of ['100001/1s', '99999999999999999999999/1s', '1/99999999999999999999h', '1/9000h']
  ) {
    assert.equal(parseRateLimit(bad), undefined, bad)
  }
})

test('parseRateLimit() periods take the units of durations, and only those', () => {
  for (const unit of ['ms', 's', 'm', 'h']) {
    assert.equal(parseRateLimit(`1/3${unit}`)?.periodMs, parseDuration(`3${unit}`), unit)
  }
  for (const unit of ['d', 'sec', 'S', 'constructor']) {
    assert.equal(parseRateLimit(`1/3${unit}`), undefined, unit)
    assert.equal(parseDuration(`3${unit}`), undefined, unit)
  }
})

test('RateLimiter allows a burst of the limit, then one per interval (GCRA)', () => {
  const limiter = new RateLimiter({ limit: 3, periodMs: 3000 })
  const t = 1_000_000
  assert.deepEqual([0, 1, 2].map(() => limiter.take('k', t)), [0, 0, 0])
  const wait = limiter.take('k', t)
  assert.equal(wait, 1000)
  assert.equal(limiter.take('k', t + 999), 1)
  assert.equal(limiter.take('k', t + 1000), 0)
  assert.equal(limiter.take('other', t), 0)
})

test('RateLimiter keeps a bounded number of keys', () => {
  const limiter = new RateLimiter({ limit: 1, periodMs: 1000 }, 100)
  for (let i = 0; i < 1000; i++) limiter.take(`k${i}`, 5000)
  assert.ok(limiter.size <= 100)
  for (let i = 0; i < 1000; i++) limiter.take(`j${i}`, 10_000 + i)
  assert.ok(limiter.size <= 100)
})

test('RateLimiter at its bound with every bucket still counting: a new key makes room for a hundredth at once, so a stream of new keys pays the pass once per many', () => {
  const limiter = new RateLimiter({ limit: 10, periodMs: 3_600_000 }, 1000)
  for (let i = 0; i < 1000; i++) limiter.take(`k${i}`, 0)
  assert.equal(limiter.size, 1000)
  limiter.take('new-0', 1)
  assert.equal(limiter.size, 1000 - 10 + 1)
  // The next nine find room without a pass; the tenth makes room again.
  for (let i = 1; i <= 9; i++) limiter.take(`new-${i}`, 1)
  assert.equal(limiter.size, 1000)
  limiter.take('new-10', 1)
  assert.equal(limiter.size, 991)
})

test('RateLimiter.wait() tells what take() would answer, without taking', () => {
  const limiter = new RateLimiter({ limit: 2, periodMs: 2000 })
  const t = 1_000_000
  assert.equal(limiter.wait('k', t), 0)
  limiter.take('k', t)
  limiter.take('k', t)
  assert.equal(limiter.wait('k', t), 1000)
  assert.equal(limiter.wait('k', t), 1000)
  assert.equal(limiter.take('k', t), 1000)
  assert.equal(limiter.wait('k', t + 1000), 0)
  assert.equal(limiter.take('k', t + 1000), 0)
})

test('SharedLimiter asks the holder for every take; a refused key is then refused here until its retry time', async () => {
  const asked: string[] = []
  let answer = 0
  const limiter = new SharedLimiter({ limit: 1, periodMs: 1000 }, (key) => {
    asked.push(key)
    return Promise.resolve({ wait: answer })
  })
  assert.equal(await limiter.take('a', 0), 0)
  answer = 700
  assert.equal(await limiter.take('a', 100), 700)
  assert.deepEqual(asked, ['a', 'a'])
  // Known here now: no message until the retry time.
  assert.equal(limiter.wait('a', 500), 300)
  assert.equal(limiter.take('a', 500), 300)
  assert.deepEqual(asked, ['a', 'a'])
  answer = 0
  assert.equal(limiter.wait('a', 800), 0)
  assert.equal(await limiter.take('a', 800), 0)
  assert.deepEqual(asked, ['a', 'a', 'a'])
  assert.equal(limiter.wait('b', 800), 0)
})

test('SharedLimiter: a take that emptied the bucket makes the next one known here, as in one process', async () => {
  let asked = 0
  const limiter = new SharedLimiter({ limit: 2, periodMs: 1000 }, () => {
    asked++
    return Promise.resolve({ wait: 0, next: asked >= 2 ? 500 : 0 })
  })
  assert.equal(await limiter.take('a', 0), 0)
  assert.equal(limiter.wait('a', 0), 0)
  assert.equal(await limiter.take('a', 0), 0)
  assert.equal(limiter.wait('a', 100), 400)
  assert.equal(limiter.take('a', 100), 400)
  assert.equal(asked, 2)
})

test('SharedLimiter falls back to its own buckets when the holder does not answer', async () => {
  const limiter = new SharedLimiter(
    { limit: 2, periodMs: 1000 },
    () => Promise.reject(new Error('gone')),
  )
  assert.equal(await limiter.take('a', 0), 0)
  assert.equal(await limiter.take('a', 0), 0)
  assert.equal(await limiter.take('a', 0), 500)
})

test('StoreLimiter: JWTGATE_RATE_LIMIT in a shared store; a refused bucket is then known without asking', async () => {
  let calls = 0
  const memory = new MemoryStore()
  const store = new GuardedStore({
    take: (checks, now) => {
      calls++
      return Promise.resolve(memory.take(checks, now))
    },
  }, { name: 'shared' })
  const limiter = new StoreLimiter({ limit: 2, periodMs: 2000 }, store)
  const t = 1_000_000
  assert.equal(await limiter.take('ip:1', t), 0)
  assert.equal(await limiter.take('ip:1', t), 0)
  assert.equal(limiter.wait('ip:1', t), 0, 'not refused yet: nothing known')
  assert.equal(await limiter.take('ip:1', t), 1000)
  assert.equal(limiter.wait('ip:1', t + 10), 990)
  assert.equal(calls, 3)
  assert.equal(await limiter.take('ip:1', t + 10), 990)
  assert.equal(calls, 3, 'the known refusal costs no store call')
  assert.equal(await limiter.take('ip:1', t + 1000), 0)
})

test('subjectKey(): no issuer and subject share the bucket of another pair, whatever their colons', () => {
  const pairs: [string | undefined, string | undefined][] = [
    ['https://a', 'b:c'],
    ['https://a:b', 'c'],
    ['https://a:b:c', undefined],
    [undefined, 'https://a:b:c'],
    ['', 'x'],
    ['x', ''],
    ['a\u0000b', 'c'],
    ['a', 'b\u0000c'],
    // Redis keys are UTF-8: lone surrogates would all become U+FFFD there.
    ['x', '\ud800'],
    ['x', '\ud801'],
    ['x', '\ufffd'],
  ]
  const keys = new Set(pairs.map(([iss, sub]) => subjectKey(iss, sub)))
  assert.equal(keys.size, pairs.length)
  const utf8 = (s: string) => new TextDecoder().decode(new TextEncoder().encode(s))
  for (const key of keys) assert.equal(utf8(key), key)
  assert.notEqual(subjectKey('x', undefined), addressKey('x'))
})

test('clientBucket(): one bucket per IPv4 address and per public IPv6 /64, however spelt; per address for unique-local and link-local; other text as it is', () => {
  const same: [string, string][] = [
    ['192.0.2.1', '192.0.2.1'],
    ['::ffff:192.0.2.1', '192.0.2.1'],
    ['::FFFF:192.0.2.1', '192.0.2.1'],
    ['192.0.2.1:4711', '192.0.2.1'],
    ['2001:db8:1:2::1', '2001:db8:1:2::/64'],
    ['2001:db8:1:2::14', '2001:db8:1:2::/64'],
    ['2001:DB8:1:2:ffff:ffff:ffff:ffff', '2001:db8:1:2::/64'],
    ['2001:0db8:0001:0002::1', '2001:db8:1:2::/64'],
    ['[2001:db8:1:2::1]:4711', '2001:db8:1:2::/64'],
    // A network's own (unique-local, link-local): one bucket per address (a node's pods).
    ['fe80::1%eth0', 'fe80:0:0:0:0:0:0:1'],
    ['fd00:10:244:1::1a', 'fd00:10:244:1:0:0:0:1a'],
    ['FD00:10:244:1:0::1A', 'fd00:10:244:1:0:0:0:1a'],
    ['unknown', 'unknown'],
  ]
  for (const [address, bucket] of same) assert.equal(clientBucket(address), bucket, address)
  assert.notEqual(clientBucket('2001:db8:1:3::1'), clientBucket('2001:db8:1:2::1'))
  assert.notEqual(clientBucket('fd00:10:244:1::1a'), clientBucket('fd00:10:244:1::2f'))
  // Again, from the cache of recent addresses: the same answers.
  assert.equal(clientBucket('2001:db8:1:2::14'), '2001:db8:1:2::/64')
  assert.equal(clientBucket('::ffff:192.0.2.1'), '192.0.2.1')
  assert.equal(clientBucket(undefined), '')
  assert.equal(addressKey('2001:db8:1:2::7'), addressKey('2001:db8:1:2::8'))
})

test('tokenKey(): a token’s subject, or — without sub, naming no one — its address; never one bucket for all sub-less tokens', () => {
  assert.equal(tokenKey('https://idp', 'alice', '192.0.2.1'), subjectKey('https://idp', 'alice'))
  assert.equal(tokenKey('https://idp', undefined, '192.0.2.1'), addressKey('192.0.2.1'))
  assert.notEqual(
    tokenKey('https://idp', undefined, '192.0.2.1'),
    tokenKey('https://idp', undefined, '203.0.113.9'),
  )
})

test('RateLimiter and takeAll(): a wall clock set back an hour refuses a bucket used just before for one interval, not an hour', () => {
  const t0 = 1_800_000_000_000
  const limiter = new RateLimiter({ limit: 100, periodMs: 60_000 })
  assert.equal(limiter.take('alice', t0), 0)
  const back = t0 - 3_600_000
  assert.ok(limiter.wait('alice', back) <= 600, String(limiter.wait('alice', back)))
  assert.ok(limiter.take('alice', back) <= 600)
  const bucket = bucketOf(100, 60_000, 100)
  const tats = new Map<string, number>()
  const read = (k: string) => tats.get(k)
  const write = (k: string, v: number) => void tats.set(k, v)
  assert.equal(takeAll([{ key: 'a', bucket }], t0, read, write).allowed, true)
  const after = takeAll([{ key: 'a', bucket }], back, read, write)
  assert.ok(after.ahead[0]! <= bucket.toleranceMs + 2 * bucket.intervalMs, String(after.ahead[0]))
})

test('SharedLimiter: a remembered refusal lasts at most one interval; after the clock went back, the holder is asked', async () => {
  const t0 = 1_800_000_000_000
  let asked = 0
  const shared = new SharedLimiter({ limit: 100, periodMs: 60_000 }, () => {
    asked++
    return Promise.resolve({ wait: 600 })
  })
  assert.equal(await shared.take('alice', t0), 600)
  assert.equal(shared.wait('alice', t0 + 100), 500)
  assert.equal(shared.wait('alice', t0 - 3_600_000), 0)
  await shared.take('alice', t0 - 3_600_000)
  assert.equal(asked, 2)
})
