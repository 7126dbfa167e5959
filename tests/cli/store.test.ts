/** The stores a gateway opens (src/cli/store.ts): when a starting one waits for Redis's revocations. */
import { expect, test } from 'bun:test'
import { firstSync, type RedisRevocationsLike } from '../../src/cli/store.ts'
import { createLogger } from '../../src/core/log.ts'

/** A sync that finishes after `ms` (never: undefined), and is under way meanwhile when `loading`. */
function fakeSync(ms: number | undefined, loading: boolean): RedisRevocationsLike {
  let done = false
  const synced = new Promise<void>((resolve) => {
    if (ms !== undefined) {
      setTimeout(() => {
        done = true
        resolve()
      }, ms)
    }
  })
  return {
    synced,
    get loading() {
      return loading && !done
    },
  }
}

async function timed(sync: RedisRevocationsLike, longestMs = 5000) {
  const lines: string[] = []
  const logger = createLogger({ level: 'info', format: 'json', sink: (l) => lines.push(l) })
  const started = Date.now()
  await firstSync(sync, logger, { firstMs: 100, longestMs })
  const events = lines.map((l) => JSON.parse(l).event)
  return { ms: Date.now() - started, events }
}

test('firstSync: a sync under way when the first wait ends is waited for (a large set, a slow link)', async () => {
  const { ms, events } = await timed(fakeSync(400, true))
  expect(ms).toBeGreaterThanOrEqual(380)
  expect(events).toEqual([])
})

test('firstSync: no sync under way (Redis has not answered): serves after the first wait, and says so', async () => {
  const { ms, events } = await timed(fakeSync(undefined, false))
  expect(ms).toBeLessThan(1000)
  expect(events).toEqual(['revocations_unconfirmed'])
})

test('firstSync: a sync that never ends is waited for until the longest wait, then said', async () => {
  const { ms, events } = await timed(fakeSync(undefined, true), 500)
  expect(ms).toBeGreaterThanOrEqual(480)
  expect(ms).toBeLessThan(2000)
  expect(events).toEqual(['revocations_unconfirmed'])
})

test('firstSync: a sync done within the first wait ends it at once', async () => {
  const { ms, events } = await timed(fakeSync(10, true))
  expect(ms).toBeLessThan(90)
  expect(events).toEqual([])
})
