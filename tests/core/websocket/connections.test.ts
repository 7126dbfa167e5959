import assert from 'node:assert/strict'
import { Metrics } from '../../../src/core/metrics.ts'
import { RevocationList } from '../../../src/core/revocation/list.ts'
import { Connections } from '../../../src/core/websocket/connections.ts'
import { type ClientSocket, Relay, type RelayLimits } from '../../../src/core/websocket/relay.ts'
import { test } from '../../helpers/t.ts'

const token = {
  claims: { sub: 'ann', jti: 'j1', iat: 100 },
  hash: ['h'.repeat(43), 'c'.repeat(43)] as const,
  closesAt: undefined,
}

test('Connections: places up to the cap, given back when a connection does not open', () => {
  const metrics = new Metrics()
  const c = new Connections(metrics, undefined)
  assert.equal(c.reserve(2), true)
  assert.equal(c.reserve(2), true)
  assert.equal(c.reserve(2), false)
  assert.equal(metrics.websocketsOpen.value, 2)
  c.release()
  assert.equal(c.size, 1)
  assert.equal(metrics.websocketsOpen.value, 1)
  // Every close reason is on /metrics from the start, at zero.
  assert.match(metrics.render(), /jwtgate_websocket_closes_total\{reason="revoked"\} 0/)
})

test('Connections.refusal(): a revocation or shutdown that came while the upstream was dialled', () => {
  const list = new RevocationList()
  const c = new Connections(new Metrics(), list)
  assert.equal(c.refusal(token), undefined)
  assert.equal(c.refusal(undefined), undefined)
  list.replace([{ kind: 'jti', jti: 'j1', iss: undefined, until: 2_000_000_000 }], 1000)
  assert.equal(c.refusal(token)?.code, 'token_revoked')
  c.shutdown()
  assert.equal(c.refusal(undefined)?.code, 'shutting_down')
})

test("Connections: a connection the gateway closed keeps its place until the client's end has closed too; one the client closed frees it at once", () => {
  const metrics = new Metrics()
  const c = new Connections(metrics, undefined)
  const upstream = Object.assign(new EventTarget(), {
    readyState: 1,
    bufferedAmount: 0,
    send() {},
    close() {},
  }) as unknown as WebSocket
  const cell = () => ({ value: 0 })
  const open = () => {
    assert.equal(c.reserve(2), true)
    const relay = new Relay(
      upstream,
      {
        maxMessageBytes: 64,
        maxBufferedBytes: 256,
        maxHoldMs: 10_000,
        counters: { messagesIn: cell(), messagesOut: cell(), bytesIn: cell(), bytesOut: cell() },
      } as unknown as RelayLimits,
      undefined,
      Date.now,
      (r) => c.ended(r),
      (r) => c.clientClosed(r),
    )
    relay.opened({ bufferedAmount: 0, send() {}, close() {} } as unknown as ClientSocket)
    c.add(relay)
    return relay
  }
  // A stalled client cut by the gateway (or a revocation, an expiry, shutdown): closing.
  const cut = open()
  cut.end('slow_receiver', 1013, 'too slow', 1013, 'too slow')
  assert.equal(cut.closing, true)
  assert.equal(c.size, 1)
  assert.equal(metrics.websocketsOpen.value, 1)
  assert.match(metrics.render(), /jwtgate_websocket_closes_total\{reason="slow_receiver"\} 1/)
  // Its client never closes: one place is left of two.
  const other = open()
  assert.equal(c.reserve(2), false)
  // A connection its client closes frees its place at once.
  other.closed(1000, '')
  assert.equal(c.size, 1)
  // The cut client's end closes at last: its place is free.
  cut.closed(1006, '')
  assert.equal(cut.closing, false)
  assert.equal(c.size, 0)
  assert.equal(metrics.websocketsOpen.value, 0)
})
