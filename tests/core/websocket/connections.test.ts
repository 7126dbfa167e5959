import assert from 'node:assert/strict'
import { Metrics } from '../../../src/core/metrics.ts'
import { RevocationList } from '../../../src/core/revocation/list.ts'
import { Connections } from '../../../src/core/websocket/connections.ts'
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
