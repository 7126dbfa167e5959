import assert from 'node:assert/strict'
import {
  ClientClosedError,
  ForbiddenError,
  TokenError,
  UnavailableError,
  UpstreamError,
} from '../../src/core/errors.ts'
import { errorResponse } from '../../src/core/respond.ts'
import { test } from '../helpers/t.ts'

test('errorResponse() answers a missing token with a bare Bearer challenge (RFC 6750 §3.1)', async () => {
  const res = errorResponse(new TokenError('token_missing', 'A bearer token is required.'), 'rid')
  assert.equal(res.status, 401)
  assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="jwtgate"')
  assert.equal(res.headers.get('content-type'), 'application/problem+json')
  assert.equal(res.headers.get('x-request-id'), 'rid')
  assert.deepEqual(await res.json(), {
    type: 'urn:jwtgate:problem:token_missing',
    title: 'Unauthorized',
    status: 401,
    detail: 'A bearer token is required.',
    code: 'token_missing',
  })
})

test('errorResponse() answers a bad token with invalid_token and an escaped description', () => {
  const res = errorResponse(new TokenError('bad_signature', 'The "token" \\ is bad.'))
  assert.equal(
    res.headers.get('www-authenticate'),
    'Bearer realm="jwtgate", error="invalid_token", error_description="The \\"token\\" \\\\ is bad."',
  )
})

test('errorResponse() answers a missing scope with 403 insufficient_scope and the scopes', async () => {
  const res = errorResponse(
    new ForbiddenError('insufficient_scope', 'The token lacks a required scope.', ['a', 'b']),
  )
  assert.equal(res.status, 403)
  assert.equal(
    res.headers.get('www-authenticate'),
    'Bearer realm="jwtgate", error="insufficient_scope", error_description="The token lacks a required scope.", scope="a b"',
  )
  assert.equal((await res.json()).code, 'insufficient_scope')
  const role = errorResponse(
    new ForbiddenError('insufficient_role', 'The token lacks a required role.'),
  )
  assert.ok(!role.headers.get('www-authenticate')!.includes('scope='))
})

test('errorResponse() maps upstream, availability and client-gone errors to 502, 504, 503 and 499', () => {
  assert.equal(errorResponse(new UpstreamError('upstream_unreachable')).status, 502)
  assert.equal(errorResponse(new UpstreamError('upstream_timeout')).status, 504)
  assert.equal(errorResponse(new ClientClosedError()).status, 499)
  const unavailable = errorResponse(new UnavailableError('keys'))
  assert.equal(unavailable.status, 503)
  assert.equal(unavailable.headers.get('retry-after'), '1')
  assert.equal(unavailable.headers.get('www-authenticate'), null)
})

test('errorResponse() turns anything else into a generic 500 without its message', async () => {
  const res = errorResponse(new Error('secret key material here'))
  assert.equal(res.status, 500)
  const text = await res.text()
  assert.ok(!text.includes('secret'))
  assert.equal(JSON.parse(text).code, 'internal_error')
})
