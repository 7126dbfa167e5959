import assert from 'node:assert/strict'
import { Counter, Histogram, methodClass, Metrics } from '../../src/core/metrics.ts'
import { test } from '../helpers/t.ts'

test('Counter renders each label set, escaping label values', () => {
  const c = new Counter('x_total', 'Help.', ['route', 'status'])
  c.inc(['a', '200'])
  c.inc(['a', '200'])
  c.inc(['we"ird\\', '401'])
  assert.equal(c.get(['a', '200']), 2)
  assert.equal(
    c.render(),
    '# HELP x_total Help.\n# TYPE x_total counter\nx_total{route="a",status="200"} 2\nx_total{route="we\\"ird\\\\",status="401"} 1\n',
  )
})

test('Histogram renders cumulative buckets, +Inf, sum and count', () => {
  const h = new Histogram('d_seconds', 'Help.', ['route'], [0.1, 1])
  h.observe(['r'], 0.05)
  h.observe(['r'], 0.5)
  h.observe(['r'], 5)
  assert.equal(
    h.render(),
    '# HELP d_seconds Help.\n# TYPE d_seconds histogram\nd_seconds_bucket{route="r",le="0.1"} 1\nd_seconds_bucket{route="r",le="1"} 2\nd_seconds_bucket{route="r",le="+Inf"} 3\nd_seconds_sum{route="r"} 5.55\nd_seconds_count{route="r"} 3\n',
  )
})

test('Metrics renders every family with Prometheus names', () => {
  const m = new Metrics(1_700_000_000_000)
  const text = m.render()
  for (
    const name of [
      'jwtgate_requests_total',
      'jwtgate_rejections_total',
      'jwtgate_request_duration_seconds',
      'jwtgate_upstream_duration_seconds',
      'jwtgate_token_verification_seconds',
      'jwtgate_jwks_fetches_total',
      'jwtgate_token_cache_total',
      'jwtgate_requests_in_flight',
      'jwtgate_process_start_time_seconds',
    ]
  ) {
    assert.match(text, new RegExp(`# TYPE ${name} `))
  }
  assert.match(text, /jwtgate_process_start_time_seconds 1700000000\n/)
})

test('methodClass() groups methods', () => {
  assert.deepEqual(['GET', 'HEAD', 'POST', 'DELETE', 'OPTIONS'].map(methodClass), [
    'read',
    'read',
    'write',
    'write',
    'options',
  ])
})

test('Metrics.countRequest() and observeUpstream() land in the same series as the labelled API', () => {
  const m = new Metrics(0)
  m.countRequest('orders', 'GET', 200, 0.002)
  m.countRequest('orders', 'HEAD', 200, 0.004)
  m.countRequest('orders', 'POST', 401, 0.001)
  m.observeUpstream('api', 0.003)
  m.cacheHits.value++
  assert.equal(m.requests.get(['orders', 'read', '200']), 2)
  assert.equal(m.requests.get(['orders', 'write', '401']), 1)
  assert.equal(m.requestDuration.count(['orders']), 3)
  assert.equal(m.upstreamDuration.count(['api']), 1)
  assert.equal(m.cache.get(['hit']), 1)
  assert.equal(m.cache.get(['miss']), 0)
  assert.match(
    m.render(),
    /jwtgate_requests_total\{route="orders",method_class="read",status="200"\} 2\n/,
  )
})
