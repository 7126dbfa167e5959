import assert from 'node:assert/strict'
import { bucketOf, type LimitCheck, type TakeResult } from '../../../src/core/limits/gcra.ts'
import { GuardedStore } from '../../../src/core/limits/guarded.ts'
import { type LimitStore, MemoryStore } from '../../../src/core/limits/store.ts'
import { createLogger } from '../../../src/core/log.ts'
import { test } from '../../helpers/t.ts'

const T0 = 1_000_000
const check: LimitCheck = { key: 'user:alice', bucket: bucketOf(2, 1000, 2) }

/** A remote store that works like memory, can be switched off, and counts its calls. */
function remote() {
  const memory = new MemoryStore()
  const state = { down: false, calls: 0 }
  const store: LimitStore = {
    take(checks, now): Promise<TakeResult> {
      state.calls++
      if (state.down) return Promise.reject(new Error('Command timed out'))
      return Promise.resolve(memory.take(checks, now))
    },
  }
  return { store, state }
}

function logged() {
  const lines: string[] = []
  const logger = createLogger({ level: 'info', format: 'json', sink: (l) => lines.push(l) })
  return { logger, lines }
}

test('GuardedStore passes takes to the store while it answers', async () => {
  const r = remote()
  const store = new GuardedStore(r.store, { name: 'redis' })
  assert.equal((await store.take([check], T0)).allowed, true)
  assert.equal((await store.take([check], T0)).allowed, true)
  assert.equal((await store.take([check], T0)).allowed, false)
  assert.equal(r.state.calls, 3)
  assert.equal(store.up, true)
})

test('GuardedStore remembers a refused bucket until its retry time, without asking again', async () => {
  const r = remote()
  const store = new GuardedStore(r.store, { name: 'redis' })
  for (let i = 0; i < 3; i++) await store.take([check], T0)
  assert.equal(r.state.calls, 3)
  for (let i = 0; i < 100; i++) {
    const answer = store.take([check], T0 + 10)
    assert.ok(!(answer instanceof Promise), 'answered here')
    assert.equal(answer.allowed, false)
  }
  assert.equal(r.state.calls, 3)
  // At the retry time the store is asked again.
  assert.equal((await store.take([check], T0 + 500)).allowed, true)
  assert.equal(r.state.calls, 4)
})

test('GuardedStore: failures fall back to local buckets; the breaker opens, probes, closes', async () => {
  const r = remote()
  const { logger, lines } = logged()
  const store = new GuardedStore(r.store, { name: 'redis', logger, retryMs: 1000 })
  r.state.down = true
  // Local buckets answer with the same limit (2 at once).
  const answers = []
  for (let i = 0; i < 3; i++) answers.push((await store.take([check], T0)).allowed)
  assert.deepEqual(answers, [true, true, false])
  assert.equal(store.up, false)
  assert.equal(store.failures, 3)
  assert.equal(r.state.calls, 3)
  // Open: no calls until the retry time, then one probe.
  for (let i = 0; i < 10; i++) await store.take([{ ...check, key: `k${i}` }], T0 + 500)
  assert.equal(r.state.calls, 3)
  await store.take([{ ...check, key: 'p1' }], T0 + 1001)
  assert.equal(r.state.calls, 4)
  await store.take([{ ...check, key: 'p2' }], T0 + 1500)
  assert.equal(r.state.calls, 4, 'the failed probe waits another retry period')
  r.state.down = false
  assert.equal((await store.take([{ ...check, key: 'p3' }], T0 + 2100)).allowed, true)
  assert.equal(store.up, true)
  assert.equal(r.state.calls, 5)
  const events = lines.map((l) => JSON.parse(l).event)
  assert.deepEqual(events, ['store_down', 'store_up'], 'one line per change')
  assert.ok(store.fallbacks >= 13)
})

test('GuardedStore fallback allow and deny', async () => {
  for (const fallback of ['allow', 'deny'] as const) {
    const r = remote()
    r.state.down = true
    const store = new GuardedStore(r.store, { name: 'redis', fallback, failures: 1 })
    const answers = []
    for (let i = 0; i < 5; i++) answers.push((await store.take([check], T0)).allowed)
    assert.deepEqual(answers, new Array(5).fill(fallback === 'allow'), fallback)
  }
})

test('GuardedStore: a store that throws synchronously counts as a failure', async () => {
  const store = new GuardedStore({
    take() {
      throw new Error('not connected')
    },
  }, { name: 'redis', failures: 1 })
  assert.equal((await store.take([check], T0)).allowed, true)
  assert.equal(store.up, false)
})

test('GuardedStore: takes that failed in one store call (one error) count as one failure', async () => {
  let fail: Error | undefined
  const store = new GuardedStore({
    take: () => (fail === undefined
      ? Promise.resolve({ allowed: true, ahead: [0] })
      : Promise.reject(fail)),
  }, { name: 'redis' })
  fail = new Error('Command timed out')
  await Promise.all([0, 1, 2, 3].map(() => store.take([check], T0)))
  assert.equal(store.failures, 1)
  assert.equal(store.up, true, 'one slow call is not three failures in a row')
  for (let i = 0; i < 2; i++) {
    fail = new Error(`Command timed out ${i}`)
    await store.take([check], T0)
  }
  assert.equal(store.up, false)
})

test('GuardedStore: a remembered refusal further ahead than a full bucket’s (the clock went back since) is forgotten and the store asked', async () => {
  const r = remote()
  const store = new GuardedStore(r.store, { name: 'redis' })
  for (let i = 0; i < 3; i++) await store.take([check], T0)
  assert.equal(r.state.calls, 3)
  assert.ok(store.known(check, T0 + 10) > 0)
  // An hour back: not refused for an hour from memory; the store decides (it caps its TAT).
  const back = T0 - 3_600_000
  assert.equal(store.known(check, back), 0)
  await store.take([check], back)
  assert.equal(r.state.calls, 4)
})
