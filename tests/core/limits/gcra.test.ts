import assert from 'node:assert/strict'
import { bucketOf, remainingOf, takeAll, waitOf } from '../../../src/core/limits/gcra.ts'
import { MemoryStore } from '../../../src/core/limits/store.ts'
import { test } from '../../helpers/t.ts'

const T0 = 1_000_000

test('GCRA: a full bucket takes a burst, then one request per interval', () => {
  const store = new MemoryStore()
  const check = { key: 'k', bucket: bucketOf(3, 3000, 3) }
  const taken = [0, 1, 2].map(() => store.take([check], T0))
  assert.deepEqual(taken.map((r) => r.allowed), [true, true, true])
  assert.deepEqual(taken.map((r) => remainingOf(r.ahead[0]!, check.bucket)), [2, 1, 0])
  const refused = store.take([check], T0)
  assert.equal(refused.allowed, false)
  assert.equal(waitOf(refused.ahead[0]!, check.bucket), 1000)
  assert.equal(store.take([check], T0 + 999).allowed, false)
  assert.equal(store.take([check], T0 + 1000).allowed, true)
  assert.equal(store.take([check], T0 + 1000).allowed, false)
})

test('GCRA: a burst below the limit smooths the same rate', () => {
  const store = new MemoryStore()
  const check = { key: 'k', bucket: bucketOf(10, 10_000, 2) }
  assert.equal(store.take([check], T0).allowed, true)
  assert.equal(store.take([check], T0).allowed, true)
  assert.equal(store.take([check], T0).allowed, false)
  assert.equal(store.take([check], T0 + 999).allowed, false)
  assert.equal(store.take([check], T0 + 1000).allowed, true)
  // Over a long run the rate is the limit: 10 per 10 s, whatever the burst.
  let allowed = 0
  for (let t = T0 + 2000; t < T0 + 102_000; t += 100) if (store.take([check], t).allowed) allowed++
  assert.equal(allowed, 100)
})

test('GCRA: the bucket is full again when its TAT has passed (reset)', () => {
  const store = new MemoryStore()
  const check = { key: 'k', bucket: bucketOf(2, 2000, 2) }
  const first = store.take([check], T0)
  assert.equal(first.ahead[0], 1000)
  const second = store.take([check], T0)
  assert.equal(second.ahead[0], 2000)
  assert.equal(remainingOf(second.ahead[0]!, check.bucket), 0)
  const later = store.take([check], T0 + 2000)
  assert.equal(remainingOf(later.ahead[0]!, check.bucket), 1)
})

test('GCRA over several buckets: all take a request or none does', () => {
  const store = new MemoryStore()
  const wide = { key: 'wide', bucket: bucketOf(100, 1000, 100) }
  const narrow = { key: 'narrow', bucket: bucketOf(1, 1000, 1) }
  assert.equal(store.take([wide, narrow], T0).allowed, true)
  const refused = store.take([wide, narrow], T0)
  assert.equal(refused.allowed, false)
  assert.equal(waitOf(refused.ahead[0]!, wide.bucket), 0)
  assert.equal(waitOf(refused.ahead[1]!, narrow.bucket), 1000)
  // The refusal did not count in the wide bucket: 99 more pass there alone.
  let allowed = 0
  for (let i = 0; i < 200; i++) if (store.take([wide], T0).allowed) allowed++
  assert.equal(allowed, 99)
})

test('takeAll reads and writes only through the caller', () => {
  const tats = new Map<string, number>([['a', T0 + 5000]])
  const bucket = bucketOf(1, 1000, 1)
  const r = takeAll([{ key: 'a', bucket }], T0, (k) => tats.get(k), (k, t) => tats.set(k, t))
  assert.equal(r.allowed, false)
  assert.equal(tats.get('a'), T0 + 5000)
})

test('MemoryStore keeps a bounded number of buckets, dropping full ones first', () => {
  const store = new MemoryStore(100)
  const bucket = bucketOf(1, 1000, 1)
  for (let i = 0; i < 1000; i++) store.take([{ key: `k${i}`, bucket }], T0)
  assert.ok(store.size <= 100)
  store.take([{ key: 'late', bucket }], T0 + 5000)
  assert.equal(store.size, 1)
})
