import assert from 'node:assert/strict'
import { importPublicJwk, importSecret, type VerifyKey } from '../../../src/core/auth/keys.ts'
import { type KeySource, staticSource } from '../../../src/core/auth/source.ts'
import { createVerifier, type VerifierOptions } from '../../../src/core/auth/verify.ts'
import { TokenError, UnavailableError } from '../../../src/core/errors.ts'
import { b64url, keyPair, secret, sign } from '../../helpers/keys.ts'
import { test } from '../../helpers/t.ts'

const HS = secret(64)
const ASYMMETRIC = ['RS256', 'PS256', 'ES256', 'ES384', 'EdDSA'] as const

function verifierWith(keys: VerifyKey[], extra: Partial<VerifierOptions> = {}) {
  return createVerifier({
    sources: [staticSource('test', keys)],
    algorithms: [...new Set(keys.map((k) => k.alg))],
    issuers: [],
    audiences: [],
    clockSkewSec: 30,
    requiredClaims: ['exp'],
    now: Date.now,
    ...extra,
  })
}

async function rejection(promise: Promise<unknown>): Promise<string> {
  try {
    await promise
  } catch (e) {
    if (e instanceof TokenError || e instanceof UnavailableError) return e.code
    throw e
  }
  return 'accepted'
}

const hsKeys = () => importSecret(HS.raw, undefined)

test('verify() accepts HS256, HS384 and HS512 tokens from a 64-byte secret', async () => {
  const v = await verifierWith(await hsKeys())
  for (const alg of ['HS256', 'HS384', 'HS512']) {
    const claims = await v.verify(await sign({ sub: alg }, { alg, key: HS.raw }))
    assert.equal(claims.sub, alg)
  }
})

for (const alg of ASYMMETRIC) {
  test(`verify() accepts an ${alg} token and rejects one signed by another ${alg} key`, async () => {
    const pair = await keyPair(alg)
    const other = await keyPair(alg, 'other', false)
    const v = await verifierWith(await importPublicJwk(pair.publicJwk, undefined))
    assert.equal((await v.verify(await sign({ sub: 'u' }, { alg, key: pair.privateKey }))).sub, 'u')
    assert.equal(
      await rejection(v.verify(await sign({ sub: 'u' }, { alg, key: other.privateKey }))),
      'bad_signature',
    )
  })
}

test('verify() rejects a tampered payload as bad_signature', async () => {
  const v = await verifierWith(await hsKeys())
  const [h, , s] = (await sign({ sub: 'user' }, { alg: 'HS256', key: HS.raw })).split('.')
  const forged = `${h}.${b64url({ sub: 'admin', exp: Math.floor(Date.now() / 1000) + 60 })}.${s}`
  assert.equal(await rejection(v.verify(forged)), 'bad_signature')
})

test('verify() rejects an expired token as token_expired, within the clock skew it passes', async () => {
  const v = await verifierWith(await hsKeys(), { clockSkewSec: 30 })
  const now = Math.floor(Date.now() / 1000)
  assert.equal(
    await rejection(v.verify(await sign({ exp: now - 31 }, { alg: 'HS256', key: HS.raw }))),
    'token_expired',
  )
  assert.equal(
    await rejection(v.verify(await sign({ exp: now - 10 }, { alg: 'HS256', key: HS.raw }))),
    'accepted',
  )
})

test('verify() rejects nbf and iat in the future beyond the skew as token_not_yet_valid', async () => {
  const v = await verifierWith(await hsKeys(), { clockSkewSec: 30 })
  const now = Math.floor(Date.now() / 1000)
  assert.equal(
    await rejection(v.verify(await sign({ nbf: now + 120 }, { alg: 'HS256', key: HS.raw }))),
    'token_not_yet_valid',
  )
  assert.equal(
    await rejection(v.verify(await sign({ iat: now + 120 }, { alg: 'HS256', key: HS.raw }))),
    'token_not_yet_valid',
  )
  assert.equal(
    await rejection(
      v.verify(await sign({ iat: now + 10, nbf: now + 10 }, { alg: 'HS256', key: HS.raw })),
    ),
    'accepted',
  )
})

test('verify() uses the injected clock', async () => {
  const now = Math.floor(Date.now() / 1000)
  const token = await sign({ exp: now + 60 }, { alg: 'HS256', key: HS.raw })
  const later = await verifierWith(await hsKeys(), { now: () => (now + 3600) * 1000 })
  assert.equal(await rejection(later.verify(token)), 'token_expired')
})

test('verify() checks the issuer and the audience', async () => {
  const v = await verifierWith(await hsKeys(), {
    issuers: ['https://a', 'https://b'],
    audiences: ['api'],
  })
  const t = (claims: Record<string, unknown>) => sign(claims, { alg: 'HS256', key: HS.raw })
  assert.equal(
    await rejection(v.verify(await t({ iss: 'https://b', aud: ['x', 'api'] }))),
    'accepted',
  )
  assert.equal(await rejection(v.verify(await t({ iss: 'https://c', aud: 'api' }))), 'wrong_issuer')
  assert.equal(
    await rejection(v.verify(await t({ iss: 'https://a', aud: 'other' }))),
    'wrong_audience',
  )
  assert.equal(await rejection(v.verify(await t({ aud: 'api' }))), 'claim_missing')
})

test('verify() requires the configured claims', async () => {
  const v = await verifierWith(await hsKeys(), { requiredClaims: ['exp', 'sub'] })
  assert.equal(
    await rejection(v.verify(await sign({}, { alg: 'HS256', key: HS.raw }))),
    'claim_missing',
  )
  assert.equal(
    await rejection(
      v.verify(await sign({ sub: 'x' }, { alg: 'HS256', key: HS.raw, expiresIn: null })),
    ),
    'claim_missing',
  )
  assert.equal(
    await rejection(v.verify(await sign({ sub: 'x' }, { alg: 'HS256', key: HS.raw }))),
    'accepted',
  )
})

test('verify() rejects alg none and algorithms outside the allow-list', async () => {
  const v = await verifierWith(await importSecret(HS.raw, ['HS256']))
  const none = `${b64url({ alg: 'none' })}.${b64url({ sub: 'x', exp: 9e9 })}.`
  assert.equal(await rejection(v.verify(none)), 'alg_not_allowed')
  assert.equal(
    await rejection(v.verify(`${b64url({ alg: 'none' })}.${b64url({ sub: 'x' })}.c2ln`)),
    'alg_not_allowed',
  )
  assert.equal(
    await rejection(v.verify(await sign({}, { alg: 'HS512', key: HS.raw }))),
    'alg_not_allowed',
  )
})

test('verify() never tries an HMAC algorithm with a public key (key confusion)', async () => {
  const rsa = await keyPair('RS256')
  const v = await verifierWith(await importPublicJwk(rsa.publicJwk, undefined), {
    algorithms: ['RS256', 'HS256'],
  })
  // The classic attack: HS256 signed with the public key's PEM text as the secret.
  const forged = await sign({ sub: 'admin' }, {
    alg: 'HS256',
    key: new TextEncoder().encode(rsa.spki),
  })
  assert.equal(await rejection(v.verify(forged)), 'unknown_key')
})

test('verify() selects keys by kid; a key without kid is a candidate for any token', async () => {
  const a = await keyPair('ES256', 'a')
  const b = await keyPair('ES256', 'b')
  const keys = [
    ...(await importPublicJwk(a.publicJwk, undefined)),
    ...(await importPublicJwk(b.publicJwk, undefined)),
  ]
  const v = await verifierWith(keys)
  assert.equal(
    (await v.verify(await sign({ sub: 'b' }, { alg: 'ES256', key: b.privateKey, kid: 'b' }))).sub,
    'b',
  )
  assert.equal(
    await rejection(v.verify(await sign({}, { alg: 'ES256', key: b.privateKey, kid: 'c' }))),
    'unknown_key',
  )
  assert.equal(
    await rejection(v.verify(await sign({}, { alg: 'ES256', key: b.privateKey }))),
    'unknown_key',
  )
  assert.equal(
    await rejection(v.verify(await sign({}, { alg: 'ES256', key: a.privateKey, kid: 'b' }))),
    'bad_signature',
  )
  const noKid = await verifierWith(await importSecret(HS.raw, undefined))
  assert.equal(
    await rejection(noKid.verify(await sign({}, { alg: 'HS256', key: HS.raw, kid: 'anything' }))),
    'accepted',
  )
})

test('verify() rejects malformed headers and payloads as token_malformed', async () => {
  const v = await verifierWith(await hsKeys())
  for (
    const token of [
      `${b64url('not json')}.${b64url({})}.c2ln`,
      `${b64url([1])}.${b64url({})}.c2ln`,
      `${b64url({ alg: 5 })}.${b64url({})}.c2ln`,
      `${b64url({ alg: 'HS256', kid: 7 })}.${b64url({})}.c2ln`,
      `_-_-.${b64url({})}.c2ln`,
    ]
  ) {
    assert.equal(await rejection(v.verify(token)), 'token_malformed', token)
  }
})

async function signedBytes(payload: string): Promise<string> {
  const { CompactSign } = await import('jose')
  return new CompactSign(new TextEncoder().encode(payload)).setProtectedHeader({ alg: 'HS256' })
    .sign(HS.raw)
}

test('verify() rejects a correctly signed payload that is not a JSON object as token_malformed', async () => {
  const v = await verifierWith(await hsKeys(), { requiredClaims: [] })
  for (const payload of ['[]', '"text"', 'not json', '12']) {
    assert.equal(await rejection(v.verify(await signedBytes(payload))), 'token_malformed', payload)
  }
})

test('verify() rejects non-finite or non-numeric NumericDates as claim_invalid', async () => {
  const v = await verifierWith(await hsKeys())
  const hand = signedBytes
  assert.equal(await rejection(v.verify(await hand('{"exp":1e400}'))), 'claim_invalid')
  assert.equal(await rejection(v.verify(await hand('{"exp":"9999999999"}'))), 'claim_invalid')
})

test('verify() rejects an iss, sub or jti that is not a string as claim_invalid (it could not be revoked)', async () => {
  const v = await verifierWith(await hsKeys(), { requiredClaims: [] })
  for (const name of ['iss', 'sub', 'jti']) {
    for (const value of ['42', 'true', 'null', '["a"]', '{"a":1}']) {
      assert.equal(
        await rejection(v.verify(await signedBytes(`{"${name}":${value}}`))),
        'claim_invalid',
        `${name}: ${value}`,
      )
    }
    assert.ok(await v.verify(await signedBytes(`{"${name}":"a"}`)))
  }
})

test('verify() answers 503 keys_unavailable while a source has not loaded and no key matches', async () => {
  const pending: KeySource = {
    label: 'jwks',
    current: () => undefined,
    refresh: () => Promise.resolve(false),
    close() {},
    version: () => 0,
  }
  const v = createVerifier({
    sources: [pending],
    algorithms: ['RS256'],
    issuers: [],
    audiences: [],
    clockSkewSec: 0,
    requiredClaims: [],
    now: Date.now,
  })
  const rsa = await keyPair('RS256')
  assert.equal(
    await rejection(v.verify(await sign({}, { alg: 'RS256', key: rsa.privateKey, kid: 'x' }))),
    'keys_unavailable',
  )
})

test('verify() refreshes a source once for an unknown kid and uses the new key', async () => {
  const rotated = await keyPair('ES256', 'new')
  let keys: VerifyKey[] = []
  let refreshes = 0
  const source: KeySource = {
    label: 'rotating',
    current: () => keys,
    async refresh() {
      refreshes++
      keys = await importPublicJwk(rotated.publicJwk, undefined)
      return true
    },
    close() {},
    version: () => refreshes,
  }
  const v = createVerifier({
    sources: [source],
    algorithms: ['ES256'],
    issuers: [],
    audiences: [],
    clockSkewSec: 0,
    requiredClaims: [],
    now: Date.now,
  })
  const token = await sign({ sub: 'r' }, { alg: 'ES256', key: rotated.privateKey, kid: 'new' })
  assert.equal((await v.verify(token)).sub, 'r')
  assert.equal((await v.verify(token)).sub, 'r')
  assert.equal(refreshes, 1)
})
