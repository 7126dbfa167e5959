import assert from 'node:assert/strict'
import {
  claimPath,
  encodeClaim,
  encodeClaimJson,
  freezeClaims,
  readClaim,
} from '../../../src/core/auth/claims.ts'
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

test('encodeClaim(): what a header would carry otherwise than the token holds it is claim_invalid', () => {
  const bad: [unknown, RegExp][] = [
    [' admin', /whitespace/],
    ['admin ', /whitespace/],
    ['\tadmin', /whitespace/],
    [['users', ' admins'], /whitespace/],
    [['users,admins'], /comma/],
    [['a', null], /not a string, number or boolean/],
    [JSON.parse('9007199254740993'), /2\^53/],
    [[1, JSON.parse('-9007199254740993')], /2\^53/],
    ['bob\ud800', /unpaired surrogate/],
    ['\udc00bob', /unpaired surrogate/],
    [['bob\ud800x'], /unpaired surrogate/],
  ]
  for (const [value, why] of bad) {
    assert.throws(
      () => encodeClaim(value),
      (e: unknown) => e instanceof TokenError && e.code === 'claim_invalid' && why.test(e.detail),
      JSON.stringify(value),
    )
  }
  // What stays: inner spaces, a comma in a lone string, safe integers, pairs, an empty list sends no header.
  assert.equal(encodeClaim('Ada Lovelace'), 'Ada Lovelace')
  assert.equal(encodeClaim('Lovelace, Ada'), 'Lovelace, Ada')
  assert.equal(encodeClaim(9007199254740991), '9007199254740991')
  assert.equal(encodeClaim(0.25), '0.25')
  assert.equal(encodeClaim('bob\ufffd'), 'bob\xef\xbf\xbd')
  assert.equal(encodeClaim('\ud83d\ude00'), '\xf0\x9f\x98\x80')
  assert.equal(encodeClaim([]), undefined)
  assert.equal(encodeClaim(''), '')
  // An object claim goes as JSON: an integer beyond 2^53 inside it would go rounded.
  assert.equal(encodeClaim({ id: 7, tags: ['a'] }), '{"id":7,"tags":["a"]}')
  for (
    const value of [
      { id: JSON.parse('9007199254740993') },
      [[JSON.parse('1e300')]],
      JSON.parse('1e400'),
      JSON.parse('[1, -1e400]'),
      JSON.parse('{"quota": 1e999}'),
    ]
  ) {
    assert.throws(
      () => encodeClaim(value),
      (e: unknown) => e instanceof TokenError && e.code === 'claim_invalid',
      JSON.stringify(value),
    )
  }
})

test('encodeClaimJson() (`as: json`) carries what the text form refuses, exactly, in printable ASCII', () => {
  const values: unknown[] = [
    ['CN=Admins,OU=Groups,DC=example,DC=com', 'CN=Users,OU=Groups,DC=example,DC=com'],
    ' admin ',
    'line\nbreak\u0000nul\u007fdel',
    ['a', null, 1, true, { b: [] }],
    [],
    '',
    'é日本\ud83d\ude00',
    'lone \ud800 half',
    { nested: { id: 9007199254740991, name: 'Ada, Countess' } },
    0.25,
    false,
  ]
  for (const value of values) {
    const header = encodeClaimJson(value)!
    // Printable ASCII only: no control character, nothing a header would trim or mangle.
    assert.match(header, /^[\x20-\x7e]*$/, JSON.stringify(value))
    assert.ok(header.charCodeAt(0) !== 32 && !header.endsWith(' '), header)
    assert.deepEqual(JSON.parse(header), value, header)
  }
  assert.equal(encodeClaimJson(['a,b', ' c']), '["a,b"," c"]')
  assert.equal(encodeClaimJson('é'), '"\\u00e9"')
  assert.equal(encodeClaimJson([]), '[]')
  assert.equal(encodeClaimJson(undefined), undefined)
  assert.equal(encodeClaimJson(null), undefined)
  // Out of a double's range, the token's digits parse as Infinity, which JSON would write `null`.
  for (
    const value of [
      JSON.parse('9007199254740993'),
      { a: [JSON.parse('-9007199254740993')] },
      JSON.parse('1e400'),
      JSON.parse('[1, -1e400]'),
      JSON.parse('{"quota": 1e999}'),
    ]
  ) {
    assert.throws(
      () => encodeClaimJson(value),
      (e: unknown) =>
        e instanceof TokenError && e.code === 'claim_invalid' && /2\^53/.test(e.detail),
    )
  }
})

test('freezeClaims(): a verified claims set cannot be changed, nested values neither', () => {
  const claims = freezeClaims({ sub: 'a', roles: ['user'], org: { teams: ['x'] } })
  assert.throws(() => (claims.roles as string[]).push('admin'), TypeError)
  assert.throws(() => ((claims.org as { teams: string[] }).teams[0] = 'y'), TypeError)
  assert.throws(() => ((claims as Record<string, unknown>).sub = 'b'), TypeError)
})
