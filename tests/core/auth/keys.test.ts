/**
 * keys.ts on its own: which algorithms each kind of key is imported for, that each imported key
 * verifies its own algorithm only, and the reasons a key is refused. (What loadConfig makes of a
 * secret or JWTGATE_PUBLIC_KEY, with the variable named: ../config/load.test.ts.)
 */
import assert from 'node:assert/strict'
import { compactVerify, exportJWK, exportPKCS8, importJWK, type JWK } from 'jose'
import {
  describeKeys,
  hmacAlgorithmsFor,
  importPublicKeyText,
  importSecret,
  KeyImportError,
  RSA_ALGS,
  type VerifyKey,
} from '../../../src/core/auth/keys.ts'
import { base64, selfSignedCertificate } from '../../helpers/forge.ts'
import { type KeyPair, keyPair, secret, sign } from '../../helpers/keys.ts'
import { test } from '../../helpers/t.ts'

const algs = (keys: readonly VerifyKey[]) => keys.map((k) => k.alg)

/** The KeyImportError message `promise` rejects with. */
async function refusal(promise: Promise<unknown>): Promise<string> {
  try {
    await promise
  } catch (e) {
    assert.ok(e instanceof KeyImportError, `expected KeyImportError, got ${e}`)
    return e.message
  }
  assert.fail('expected the key to be refused')
}

/** True when `key` verifies `token` as `alg`; false for a bad signature or a key of another alg. */
async function verifies(key: VerifyKey, token: string, alg = key.alg): Promise<boolean> {
  try {
    await compactVerify(token, key.key, { algorithms: [alg] })
    return true
  } catch {
    return false
  }
}

/** A PEM block of `label` around DER bytes, 64 characters a line. */
function pem(label: string, der: Uint8Array): string {
  const lines = base64(der).match(/.{1,64}/g)!.join('\n')
  return `-----BEGIN ${label}-----\n${lines}\n-----END ${label}-----\n`
}

/** A self-signed X.509 certificate (PEM) for `pair`'s public key. */
async function certificate(pair: KeyPair): Promise<string> {
  const keys = pair as unknown as { publicKey: CryptoKey; privateKey: CryptoKey }
  return pem('CERTIFICATE', await selfSignedCertificate(keys, 'jwtgate-test'))
}

test('hmacAlgorithmsFor() allows each HS algorithm whose hash size the secret meets (RFC 7518 §3.2)', () => {
  assert.deepEqual(hmacAlgorithmsFor(0), [])
  assert.deepEqual(hmacAlgorithmsFor(31), [])
  assert.deepEqual(hmacAlgorithmsFor(32), ['HS256'])
  assert.deepEqual(hmacAlgorithmsFor(47), ['HS256'])
  assert.deepEqual(hmacAlgorithmsFor(48), ['HS256', 'HS384'])
  assert.deepEqual(hmacAlgorithmsFor(63), ['HS256', 'HS384'])
  assert.deepEqual(hmacAlgorithmsFor(64), ['HS256', 'HS384', 'HS512'])
  assert.deepEqual(hmacAlgorithmsFor(1000), ['HS256', 'HS384', 'HS512'])
})

test('importSecret() refuses a secret under 32 bytes, naming its length and never its bytes', async () => {
  for (const bytes of [0, 1, 31]) {
    const raw = new Uint8Array(bytes).fill(0x41)
    const message = await refusal(importSecret(raw, undefined))
    assert.equal(
      message,
      `the secret is ${bytes} bytes; at least 32 bytes (256 bits) are required for HS256`,
    )
    if (bytes > 0) assert.ok(!message.includes('A'.repeat(bytes)))
  }
})

test('importSecret() imports one key per allowed HS algorithm, without a kid, not extractable', async () => {
  assert.deepEqual(algs(await importSecret(secret(32).raw, undefined)), ['HS256'])
  assert.deepEqual(algs(await importSecret(secret(48).raw, undefined)), ['HS256', 'HS384'])
  const all = await importSecret(secret(64).raw, undefined)
  assert.deepEqual(algs(all), ['HS256', 'HS384', 'HS512'])
  for (const k of all) {
    assert.equal(k.kid, undefined)
    assert.equal((k.key as unknown as CryptoKey).extractable, false)
  }
  assert.deepEqual(algs(await importSecret(secret(64).raw, ['HS512', 'RS256'])), ['HS512'])
  // An allow-list the secret cannot serve leaves no key (loadConfig reports it).
  assert.deepEqual(await importSecret(secret(32).raw, ['HS384']), [])
  assert.deepEqual(await importSecret(secret(64).raw, ['RS256']), [])
})

test('importSecret() binds each key to its algorithm: it verifies that one only', async () => {
  const s = secret(64)
  const keys = await importSecret(s.raw, undefined)
  const tokens = Object.fromEntries(
    await Promise.all(
      ['HS256', 'HS384', 'HS512'].map(async (alg) => [alg, await sign({}, { alg, key: s.raw })]),
    ),
  ) as Record<string, string>
  for (const key of keys) {
    for (const [alg, token] of Object.entries(tokens)) {
      assert.equal(await verifies(key, token, alg), alg === key.alg, `${key.alg} key, ${alg} token`)
    }
  }
  const other = await sign({}, { alg: 'HS256', key: secret(64).raw })
  assert.equal(await verifies(keys[0]!, other), false)
})

test('importPublicKeyText() reads an SPKI PEM as RSA, EC P-256/384/521 or Ed25519', async () => {
  const cases: [string, string[]][] = [
    ['RS256', [...RSA_ALGS]],
    ['ES256', ['ES256']],
    ['ES384', ['ES384']],
    ['ES512', ['ES512']],
    ['EdDSA', ['EdDSA', 'Ed25519']],
  ]
  for (const [alg, expected] of cases) {
    const pair = await keyPair(alg)
    const keys = await importPublicKeyText(pair.spki, undefined)
    assert.deepEqual(algs(keys), expected, alg)
    assert.ok(keys.every((k) => k.kid === undefined))
    const token = await sign({}, { alg, key: pair.privateKey })
    assert.equal(await verifies(keys[0]!, token), true, alg)
    const stranger = await sign({}, { alg, key: (await keyPair(alg, 'other')).privateKey })
    assert.equal(await verifies(keys[0]!, stranger), false, `${alg}: another key's token`)
  }
})

test('importPublicKeyText() binds an RSA key to each algorithm separately and honours the allow-list', async () => {
  const rsa = await keyPair('RS256')
  const keys = await importPublicKeyText(rsa.spki, undefined)
  const rs256 = await sign({}, { alg: 'RS256', key: rsa.privateKey })
  // The same RSA private key, as an RSA-PSS key.
  const { alg: _alg, key_ops: _ops, ...privateJwk } = await exportJWK(rsa.privateKey)
  const ps256 = await sign({}, { alg: 'PS256', key: await importJWK(privateJwk, 'PS256') })
  const byAlg = (alg: string) => keys.find((k) => k.alg === alg)!
  assert.equal(await verifies(byAlg('RS256'), rs256), true)
  assert.equal(await verifies(byAlg('PS256'), ps256), true)
  assert.equal(await verifies(byAlg('PS256'), rs256, 'RS256'), false)
  assert.equal(await verifies(byAlg('RS256'), ps256, 'PS256'), false)
  assert.deepEqual(algs(await importPublicKeyText(rsa.spki, ['PS256', 'ES256'])), ['PS256'])
  assert.deepEqual(await importPublicKeyText(rsa.spki, ['ES256']), [])
})

test('importPublicKeyText() takes the public key of an X.509 certificate', async () => {
  for (const [alg, expected] of [['ES256', ['ES256']], ['RS256', [...RSA_ALGS]]] as const) {
    const pair = await keyPair(alg)
    const keys = await importPublicKeyText(await certificate(pair), undefined)
    assert.deepEqual(algs(keys), expected, alg)
    assert.equal(await verifies(keys[0]!, await sign({}, { alg, key: pair.privateKey })), true)
    const stranger = await sign({}, { alg, key: (await keyPair(alg, 'other')).privateKey })
    assert.equal(await verifies(keys[0]!, stranger), false)
  }
})

test('importPublicKeyText() imports every PEM block of a text, in order, and ignores text around them', async () => {
  const rsa = await keyPair('RS256')
  const ec = await keyPair('ES256')
  const text = `RSA signing key:\n${rsa.spki}\nand the EC certificate:\n${await certificate(ec)}\n`
  assert.deepEqual(algs(await importPublicKeyText(text, undefined)), [...RSA_ALGS, 'ES256'])
  assert.deepEqual(algs(await importPublicKeyText(text, ['ES256', 'PS512'])), ['PS512', 'ES256'])
})

test('importPublicKeyText() reads a JWK and a JWK Set, keeping each kid', async () => {
  const es = await keyPair('ES256', 'e1')
  const rsa = await keyPair('RS256', 'r1')
  const one = await importPublicKeyText(JSON.stringify(es.publicJwk), undefined)
  assert.deepEqual(one.map((k) => [k.kid, k.alg]), [['e1', 'ES256']])
  const set = await importPublicKeyText(
    `  ${JSON.stringify({ keys: [es.publicJwk, rsa.publicJwk] })}\n`,
    undefined,
  )
  assert.deepEqual(set.map((k) => [k.kid, k.alg]), [
    ['e1', 'ES256'],
    ...RSA_ALGS.map((alg) => ['r1', alg]),
  ])
  const token = await sign({}, { alg: 'ES256', key: es.privateKey, kid: 'e1' })
  assert.equal(await verifies(set[0]!, token), true)
  assert.deepEqual(
    algs(
      await importPublicKeyText(JSON.stringify({ keys: [es.publicJwk, rsa.publicJwk] }), [
        'RS512',
      ]),
    ),
    ['RS512'],
  )
})

test('a JWK\'s "alg", "use" and "key_ops" narrow it or refuse it', async () => {
  const rsa = await keyPair('RS256', 'r1')
  const jwk = (extra: Record<string, unknown>) => JSON.stringify({ ...rsa.publicJwk, ...extra })
  assert.deepEqual(algs(await importPublicKeyText(jwk({ alg: 'PS384' }), undefined)), ['PS384'])
  assert.deepEqual(await importPublicKeyText(jwk({ alg: 'PS384' }), ['RS256']), [])
  assert.deepEqual(
    algs(await importPublicKeyText(jwk({ use: 'sig', key_ops: ['verify'] }), undefined)),
    [...RSA_ALGS],
  )
  assert.equal(
    await refusal(importPublicKeyText(jwk({ use: 'enc' }), undefined)),
    'its "use" is "enc", not "sig"',
  )
  assert.equal(
    await refusal(importPublicKeyText(jwk({ key_ops: ['encrypt', 'wrapKey'] }), undefined)),
    'its "key_ops" does not include "verify"',
  )
  assert.equal(
    await refusal(importPublicKeyText(jwk({ alg: 'none' }), undefined)),
    'its "alg" "none" is not supported',
  )
  assert.equal(
    await refusal(importPublicKeyText(jwk({ alg: 'RSA-OAEP' }), undefined)),
    'its "alg" "RSA-OAEP" is not supported',
  )
  // Key confusion: an RSA key that claims an HMAC algorithm is never imported as an HMAC secret.
  assert.equal(
    await refusal(importPublicKeyText(jwk({ alg: 'HS256' }), undefined)),
    'the RSA key "r1" cannot be imported for HS256',
  )
})

test('importPublicKeyText() refuses private keys in every form, without echoing them', async () => {
  const ec = await keyPair('ES256', 'e1')
  const pkcs8 = await exportPKCS8(ec.privateKey)
  assert.equal(
    await refusal(importPublicKeyText(pkcs8, undefined)),
    'it is a private key; give the public key (SPKI PEM) only',
  )
  const rsaStyle = '-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----'
  assert.match(await refusal(importPublicKeyText(rsaStyle, undefined)), /private key/)
  const privateJwk: JWK = { ...(await exportJWK(ec.privateKey)), kid: 'e1' }
  assert.ok(typeof privateJwk.d === 'string')
  const alone = await refusal(importPublicKeyText(JSON.stringify(privateJwk), undefined))
  assert.equal(alone, 'it is a private key; give the public key only')
  const inSet = await refusal(
    importPublicKeyText(JSON.stringify({ keys: [ec.publicJwk, privateJwk] }), undefined),
  )
  assert.equal(inSet, 'keys[1]: it is a private key; give the public key only')
  for (const message of [alone, inSet]) assert.ok(!message.includes(privateJwk.d!))
})

test('importPublicKeyText() names what is wrong with an unusable key or text', async () => {
  const refused = (text: string) => refusal(importPublicKeyText(text, undefined))
  const es = await keyPair('ES256', 'e1')
  assert.equal(
    await refused(JSON.stringify({ keys: [es.publicJwk, { kty: 'oct', k: 'AAAA' }] })),
    'keys[1]: symmetric (oct) keys are never taken from a key set; use JWTGATE_SECRET',
  )
  assert.equal(await refused('{"kty":"XYZ"}'), 'unsupported key type "XYZ"')
  assert.equal(
    await refused(JSON.stringify({ ...es.publicJwk, crv: 'secp256k1' })),
    'no supported algorithm fits it',
  )
  assert.equal(
    await refused('{"kty":"OKP","crv":"X25519","x":"AAAA"}'),
    'no supported algorithm fits it',
  )
  assert.equal(await refused('{"keys":[1]}'), 'keys[0] is not a JWK object')
  assert.equal(await refused('{"keys":[null]}'), 'keys[0] is not a JWK object')
  assert.equal(
    await refused('[{"kty":"RSA"}]'),
    'expected a PEM public key or certificate, a JWK, or a JWK Set',
  )
  assert.equal(
    await refused('-----BEGIN PGP PUBLIC KEY BLOCK-----\nAAAA\n-----END PGP PUBLIC KEY BLOCK-----'),
    'expected a "BEGIN PUBLIC KEY" or "BEGIN CERTIFICATE" PEM block',
  )
  // One bad block refuses the whole text.
  const rsa = await keyPair('RS256')
  assert.equal(
    await refused(`${rsa.spki}\n-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----`),
    'the PEM could not be read as an RSA, EC (P-256/384/521) or Ed25519 public key',
  )
})

test('an RSA key under 2048 bits is refused when read, as a JWK or a PEM; 2048 bits and more are taken', async () => {
  // jose will not verify with such a key: imported, it failed every token it was tried for.
  const rsa = async (modulusLength: number) => {
    const pair = await crypto.subtle.generateKey(
      {
        name: 'RSASSA-PKCS1-v1_5',
        modulusLength,
        publicExponent: new Uint8Array([1, 0, 1]),
        hash: 'SHA-256',
      },
      true,
      ['sign', 'verify'],
    ) as CryptoKeyPair
    const spki = new Uint8Array(await crypto.subtle.exportKey('spki', pair.publicKey))
    return { jwk: await exportJWK(pair.publicKey), pem: pem('PUBLIC KEY', spki) }
  }
  for (const bits of [1024, 1536, 1920]) {
    const small = await rsa(bits)
    const why = `its RSA modulus has ${bits} bits; at least 2048 are needed`
    assert.equal(await refusal(importPublicKeyText(JSON.stringify(small.jwk), undefined)), why)
    assert.equal(
      await refusal(importPublicKeyText(small.pem, undefined)),
      `the PEM key is refused: ${why}`,
    )
  }
  const big = await rsa(2048)
  assert.equal((await importPublicKeyText(JSON.stringify(big.jwk), ['RS256'])).length, 1)
  assert.equal((await importPublicKeyText(big.pem, ['RS256'])).length, 1)
  const { n: _n, ...noModulus } = big.jwk
  assert.equal(
    await refusal(importPublicKeyText(JSON.stringify(noModulus), undefined)),
    'its "n" (the RSA modulus) is missing',
  )
})

test('a JWK whose "kid" is not a string, or whose "key_ops" is not a list, is refused', async () => {
  // Read as no kid, the key would be tried for every token whatever its kid.
  const es = await keyPair('ES256')
  const refused = (jwk: object) => refusal(importPublicKeyText(JSON.stringify(jwk), undefined))
  for (const kid of [7, true, null, ['a'], { a: 1 }]) {
    assert.equal(await refused({ ...es.publicJwk, kid }), 'its "kid" is not a string')
  }
  assert.equal(await refused({ ...es.publicJwk, key_ops: 'verify' }), 'its "key_ops" is not a list')
})

test('describeKeys() lists the distinct algorithms, in order', async () => {
  const rsa = await keyPair('RS256')
  const keys = [
    ...(await importPublicKeyText(rsa.spki, ['RS256', 'PS256'])),
    ...(await importSecret(secret(48).raw, undefined)),
    ...(await importSecret(secret(32).raw, undefined)),
  ]
  assert.equal(describeKeys(keys), 'RS256,PS256,HS256,HS384')
  assert.equal(describeKeys([]), '')
})
