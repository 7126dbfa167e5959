import assert from 'node:assert/strict'
import {
  CLIENT_GONE,
  TIMED_OUT,
  trackDeadline,
  untrackDeadline,
} from '../../../src/core/proxy/deadline.ts'
import { test } from '../../helpers/t.ts'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

function request(signal?: AbortSignal): Request {
  return new Request('http://gw.test/x', { signal })
}

/** Waits (bounded) until `signal` aborts; false if it did not within `ms`. */
async function aborted(signal: AbortSignal, ms: number): Promise<boolean> {
  const until = Date.now() + ms
  while (!signal.aborted && Date.now() < until) await sleep(10)
  return signal.aborted
}

test('trackDeadline() aborts a request past its deadline with TIMED_OUT', async () => {
  const controller = new AbortController()
  trackDeadline(controller, request(), 30)
  assert.equal(controller.signal.aborted, false)
  assert.ok(await aborted(controller.signal, 2000))
  assert.equal(controller.signal.reason, TIMED_OUT)
})

test('trackDeadline() aborts with CLIENT_GONE once the client goes away', async () => {
  const client = new AbortController()
  const controller = new AbortController()
  trackDeadline(controller, request(client.signal), 60_000)
  await sleep(70)
  assert.equal(controller.signal.aborted, false)
  client.abort()
  assert.ok(await aborted(controller.signal, 2000))
  assert.equal(controller.signal.reason, CLIENT_GONE)
})

test('untrackDeadline() ends the watch: the deadline no longer aborts', async () => {
  const controller = new AbortController()
  const slot = trackDeadline(controller, request(), 30)
  untrackDeadline(slot, controller)
  assert.equal(await aborted(controller.signal, 200), false)
})

test('trackDeadline() grows past its first slots and keeps each request apart', async () => {
  const kept: [number, AbortController][] = []
  const expiring: AbortController[] = []
  for (let i = 0; i < 600; i++) {
    const controller = new AbortController()
    if (i % 2 === 0) kept.push([trackDeadline(controller, request(), 60_000), controller])
    else {
      trackDeadline(controller, request(), 20)
      expiring.push(controller)
    }
  }
  for (const controller of expiring) assert.ok(await aborted(controller.signal, 2000))
  for (const [, controller] of kept) assert.equal(controller.signal.aborted, false)
  // A slot freed by the sweep is reused; untracking an old slot must not touch its new owner.
  const [slot, first] = kept[0]!
  untrackDeadline(slot, first)
  const next = new AbortController()
  const reused = trackDeadline(next, request(), 20)
  untrackDeadline(reused === slot ? slot : reused, first)
  assert.ok(await aborted(next.signal, 2000), 'a stale untrack left the new owner watched')
  for (const [s, controller] of kept) untrackDeadline(s, controller)
})
