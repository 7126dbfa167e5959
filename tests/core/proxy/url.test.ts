import assert from 'node:assert/strict'
import { parseUpstreamBase, upstreamBaseProblem, upstreamUrl } from '../../../src/core/proxy/url.ts'
import { test } from '../../helpers/t.ts'

test('upstreamUrl() joins base, prefix, path and query without double slashes', () => {
  assert.equal(
    upstreamUrl(parseUpstreamBase('http://api:3000'), '/orders/1', '?x=1'),
    'http://api:3000/orders/1?x=1',
  )
  assert.equal(
    upstreamUrl(parseUpstreamBase('http://api:3000/'), '/orders', ''),
    'http://api:3000/orders',
  )
  assert.equal(
    upstreamUrl(parseUpstreamBase('http://api:3000/v1/'), '/orders', ''),
    'http://api:3000/v1/orders',
  )
  assert.equal(upstreamUrl(parseUpstreamBase('https://api/v1//'), '/', ''), 'https://api/v1/')
  assert.equal(
    upstreamUrl(parseUpstreamBase('http://api/v1'), '/a%20b', '?q=%2F'),
    'http://api/v1/a%20b?q=%2F',
  )
})

test('upstreamBaseProblem() explains each unacceptable base URL', () => {
  assert.equal(upstreamBaseProblem('http://127.0.0.1:3000/api'), undefined)
  assert.match(upstreamBaseProblem('ftp://x')!, /http:\/\/ or https:\/\//)
  assert.match(upstreamBaseProblem('x')!, /absolute/)
  assert.match(upstreamBaseProblem('http://x/#f')!, /query or fragment/)
})
