import assert from 'node:assert/strict'
import { parseDuration } from '../../src/core/config/values.ts'
import { parseRateLimit, RateLimiter } from '../../src/core/rate-limit.ts'
import { test } from '../helpers/t.ts'

test('parseRateLimit() reads N/period', () => {
  assert.deepEqual(parseRateLimit('100/1m'), { limit: 100, periodMs: 60_000 })
  assert.deepEqual(parseRateLimit('10/s'), { limit: 10, periodMs: 1000 })
  assert.deepEqual(parseRateLimit(' 5 / 2h '), { limit: 5, periodMs: 7_200_000 })
  for (const bad of ['100', '0/1s', 'x/1s', '10/1d', '10/0s']) {
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
