import assert from 'node:assert/strict'
import { claimPath, encodeClaim, readClaim } from '../../../src/core/auth/claims.ts'
import { TokenError } from '../../../src/core/errors.ts'
import { test } from '../../helpers/t.ts'

test('readClaim() reads top-level, nested and URL-shaped claim names', () => {
  const claims = {
    sub: 'u1',
    realm_access: { roles: ['admin'] },
    'https://example.com/tenant': 't1',
    'a.b': { c: 3 },
  }
  assert.equal(readClaim(claims, claimPath('sub')), 'u1')
  assert.deepEqual(readClaim(claims, claimPath('realm_access.roles')), ['admin'])
  assert.equal(readClaim(claims, claimPath('https://example.com/tenant')), 't1')
  assert.equal(readClaim(claims, claimPath('a.b.c')), 3)
  assert.equal(readClaim(claims, claimPath('realm_access.missing')), undefined)
  assert.equal(readClaim(claims, claimPath('sub.length')), undefined)
})

test('readClaim() ignores inherited properties', () => {
  assert.equal(readClaim({}, claimPath('constructor')), undefined)
  assert.equal(readClaim({ a: {} }, claimPath('a.toString')), undefined)
})

test('encodeClaim() encodes each type as documented', () => {
  assert.equal(encodeClaim('alice'), 'alice')
  assert.equal(encodeClaim(42), '42')
  assert.equal(encodeClaim(1.5), '1.5')
  assert.equal(encodeClaim(true), 'true')
  assert.equal(encodeClaim(false), 'false')
  assert.equal(encodeClaim(['a', 'b', 3]), 'a,b,3')
  assert.equal(encodeClaim({ t: 1 }), '{"t":1}')
  assert.equal(encodeClaim([['x'], 'y']), '[["x"],"y"]')
  assert.equal(encodeClaim(undefined), undefined)
  assert.equal(encodeClaim(null), undefined)
})

test('encodeClaim() rejects control characters as claim_invalid', () => {
  for (const bad of ['a\r\nX-Admin: 1', 'a\u0000b', 'tab\there', 'del\u007f']) {
    assert.throws(
      () => encodeClaim(bad),
      (e: unknown) => e instanceof TokenError && e.code === 'claim_invalid',
      JSON.stringify(bad),
    )
  }
  assert.throws(() => encodeClaim(['ok', 'bad\n']), TokenError)
})

test('encodeClaim() sends values beyond ASCII as UTF-8 bytes, and rejects C1 controls', () => {
  const encoded = encodeClaim('日本 é')!
  assert.deepEqual(
    Uint8Array.from(encoded, (c) => c.charCodeAt(0)),
    new TextEncoder().encode('日本 é'),
  )
  new Headers({ 'x-name': encoded }) // a valid header value
  assert.throws(() => encodeClaim('a\u0085b'), TokenError)
  assert.equal(encodeClaim('plain'), 'plain')
})
