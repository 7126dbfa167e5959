import assert from 'node:assert/strict'
import {
  parseRevocation,
  type Revocation,
  revocationJson,
  tokenHash,
  type TokenHashes,
  tokenHashes,
  UNTIL_MARGIN_SEC,
} from '../../../src/core/revocation/entry.ts'
import { RevocationList } from '../../../src/core/revocation/list.ts'
import { test } from '../../helpers/t.ts'

const NOW = 1_800_000_000
const DAY = 86_400

test('parseRevocation(): each kind, with before and until filled in', () => {
  assert.deepEqual(parseRevocation({ jti: 'j1', iss: 'https://i', exp: NOW + 60 }, NOW, DAY), {
    kind: 'jti',
    jti: 'j1',
    iss: 'https://i',
    until: NOW + 60 + UNTIL_MARGIN_SEC,
  })
  // Without exp: the token may say it was issued a skew ahead, and is taken a skew past its age.
  assert.deepEqual(parseRevocation({ jti: 'j1' }, NOW, DAY), {
    kind: 'jti',
    jti: 'j1',
    iss: undefined,
    until: NOW + DAY + 2 * UNTIL_MARGIN_SEC,
  })
  const hash = 'ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0'
  assert.deepEqual(parseRevocation({ token_sha256: hash, exp: NOW }, NOW, DAY), {
    kind: 'token',
    hash,
    until: NOW + UNTIL_MARGIN_SEC,
  })
  assert.deepEqual(parseRevocation({ sub: 'alice' }, NOW, DAY), {
    kind: 'sub',
    sub: 'alice',
    iss: undefined,
    before: NOW + 1,
    until: NOW + 1 + DAY + UNTIL_MARGIN_SEC,
  })
  assert.deepEqual(
    parseRevocation({ issuer: 'https://i', before: NOW - 5, until: NOW + 9 }, NOW, DAY),
    {
      kind: 'issuer',
      iss: 'https://i',
      before: NOW - 5,
      until: NOW + 9,
    },
  )
})

test('parseRevocation(): what is wrong, in a sentence', () => {
  const cases: [unknown, RegExp][] = [
    [null, /JSON object/],
    [[], /JSON object/],
    [{}, /exactly one of/],
    [{ jti: 'a', sub: 'b' }, /exactly one of/],
    [{ jti: '' }, /"jti" must be a non-empty string/],
    [{ jti: 'x'.repeat(2000) }, /at most 1024/],
    [{ jti: 'a', exp: 'tomorrow' }, /"exp" must be a time/],
    [{ jti: 'a', exp: 1.5 }, /"exp" must be a time/],
    [{ jti: 'a', before: NOW }, /"before" applies to "sub" and "issuer"/],
    [{ sub: 'a', exp: NOW }, /"exp" applies to "jti"/],
    [{ issuer: 'a', iss: 'b' }, /drop "iss"/],
    [{ token_sha256: 'short' }, /base64url/],
    [
      { token_sha256: 'ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0', iss: 'x' },
      /"iss" does not apply/,
    ],
    [{ sub: 'a', role: 'admin' }, /unknown field "role"/],
  ]
  for (const [value, message] of cases) {
    const result = parseRevocation(value, NOW, DAY)
    assert.equal(typeof result, 'string', JSON.stringify(value))
    assert.match(result as string, message)
  }
})

test('revocationJson() round-trips through parseRevocation()', () => {
  for (
    const value of [
      { jti: 'j', iss: 'i', exp: NOW },
      { jti: 'j' },
      { token_sha256: 'ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0' },
      { sub: 's', iss: 'i', before: NOW },
      { issuer: 'i' },
    ]
  ) {
    const entry = parseRevocation(value, NOW, DAY)
    assert.notEqual(typeof entry, 'string')
    assert.deepEqual(parseRevocation(revocationJson(entry as never), NOW + 500, 1), entry)
  }
})

/** Whether `entry` alone revokes a token with `claims` (and SHA-256 `hash`). */
function covers(
  entry: Revocation,
  claims: Record<string, unknown>,
  hash?: TokenHashes,
): boolean {
  const list = new RevocationList()
  list.add(entry, NOW * 1000)
  return list.revoked(claims, hash) !== undefined
}

test('one entry revokes: by jti (and issuer), hash, subject or issuer before a time', () => {
  const entry = (v: unknown) => parseRevocation(v, NOW, DAY) as never
  assert.equal(covers(entry({ jti: 'j' }), { jti: 'j', iss: 'any' }), true)
  assert.equal(covers(entry({ jti: 'j', iss: 'a' }), { jti: 'j', iss: 'b' }), false)
  assert.equal(covers(entry({ sub: 's', before: NOW }), { sub: 's', iat: NOW - 1 }), true)
  assert.equal(covers(entry({ sub: 's', before: NOW }), { sub: 's', iat: NOW }), false)
  assert.equal(covers(entry({ sub: 's', before: NOW }), { sub: 's' }), true, 'no iat: covered')
  assert.equal(covers(entry({ issuer: 'i', before: NOW }), { iss: 'i', iat: NOW - 1 }), true)
  assert.equal(covers(entry({ issuer: 'i', before: NOW }), { iss: 'j', iat: NOW - 1 }), false)
  const h = 'ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0'
  const other = 'x'.repeat(43)
  assert.equal(covers(entry({ token_sha256: h }), {}, [h, other]), true)
  assert.equal(
    covers(entry({ token_sha256: h }), {}, [other, h]),
    true,
    'the compact form (pre-0.7.0)',
  )
  assert.equal(covers(entry({ token_sha256: h }), {}, [other, other]), false)
  assert.equal(covers(entry({ token_sha256: h }), {}), false)
})

test('tokenHash() is SHA-256 in base64url of the signed part; tokenHashes() adds the compact form', async () => {
  assert.equal(await tokenHash('abc'), 'ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0')
  // SHA-256 of "abc", whatever the signature says.
  assert.equal(await tokenHash('abc.sig1'), 'ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0')
  assert.equal(await tokenHash('a.b.c'), await tokenHash('a.b.other'))
  // [SHA-256 of "a.b", SHA-256 of "a.b.c"]: each written as a token whose signed part it is.
  assert.deepEqual(await tokenHashes('a.b.c'), [
    await tokenHash('a.b.x'),
    await tokenHash('a.b.c.'),
  ])
})
