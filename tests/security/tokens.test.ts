/**
 * The hostile-token corpus (issue 3, "Proof"): one named test per class of forged, confused or
 * malformed token, each asserting the exact status (401), the RFC 6750 `error="invalid_token"`
 * challenge, the problem+json `code`, and that the upstream received nothing. Tokens are made with
 * jose where jose will make them, and by hand (forge.ts) where it refuses. Every configuration runs
 * under the compiled binary and under `deno run`, one gateway process per configuration.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'bun:test'
import { exportJWK, type JWK, SignJWT } from 'jose'
import { b64url, type KeyPair, keyPair, secret, sign } from '../helpers/keys.ts'
import { type Gateway, startGateway, TARGETS } from '../helpers/process.ts'
import { recordingUpstream, serve, type TestServer } from '../helpers/serve.ts'
import { pollUntil } from '../helpers/wait.ts'
import { expectRawRejected, expectRejected, MARKER } from '../helpers/assertions.ts'
import {
  b64urlBytes,
  b64urlText,
  base64,
  hmacToken,
  nowSec,
  P256_ORDER,
  selfSignedCertificate,
} from '../helpers/forge.ts'
import { exchange } from '../helpers/raw-http.ts'

const ISSUER = 'https://issuer.example'
const AUDIENCE = 'api://jwtgate'
const MAX_TOKEN_BYTES = 1024
const TYP = 'at+jwt'

type Upstream = Awaited<ReturnType<typeof recordingUpstream>>

/** An attacker's key pair with a self-signed certificate for it (`x5c`). */
interface Attacker {
  readonly alg: string
  readonly privateKey: CryptoKey
  readonly jwk: JWK
  readonly certificate: string
}

async function attacker(alg: 'RS256' | 'ES256'): Promise<Attacker> {
  const params = alg === 'ES256' ? { name: 'ECDSA', namedCurve: 'P-256' } : {
    name: 'RSASSA-PKCS1-v1_5',
    modulusLength: 2048,
    publicExponent: new Uint8Array([1, 0, 1]),
    hash: 'SHA-256',
  }
  const keys = (await crypto.subtle.generateKey(params, true, ['sign', 'verify'])) as CryptoKeyPair
  const jwk = { ...(await exportJWK(keys.publicKey)), kid: `${MARKER}-key`, alg, use: 'sig' }
  return {
    alg,
    privateKey: keys.privateKey,
    jwk,
    certificate: base64(await selfSignedCertificate(keys, MARKER)),
  }
}

/** A JWK Set server; counts every request it answers, whatever the path. */
async function jwksServer(keys: JWK[]): Promise<TestServer & { requests: string[] }> {
  const requests: string[] = []
  const server = await serve((request) => {
    requests.push(new URL(request.url).pathname)
    return Response.json({ keys })
  })
  return Object.assign(server, { requests })
}

for (const target of TARGETS) {
  describe(`${target.name}: hostile tokens`, () => {
    const hsKey = secret(32)
    const mixedKey = secret(32)
    const oct = secret(32)
    const servers: TestServer[] = []
    const gateways: Gateway[] = []
    let upstream: Upstream
    /** Where a token's jku/x5u points: it serves the attacker's keys, and must never be asked. */
    let lure: Upstream
    let jwksOct: Awaited<ReturnType<typeof jwksServer>>
    let jwksMixed: Awaited<ReturnType<typeof jwksServer>>
    let rsa: KeyPair
    let es: KeyPair
    let evilRsa: Attacker
    let evilEs: Attacker
    /** HS256 secret only; iss/aud configured; small token cap. */
    let hs: Gateway
    /** An RSA public key only. */
    let rsaOnly: Gateway
    /** RSA and EC public keys and an HMAC secret; typ at+jwt required. */
    let mixed: Gateway
    /** A JWKS holding only an oct key (default algorithms). */
    let octOnly: Gateway
    /** A JWKS holding an oct key and an RSA key, with HS256 explicitly allowed. */
    let octAndRsa: Gateway

    const get = (gateway: Gateway, token: string, path = '/orders') =>
      fetch(`${gateway.url}${path}`, { headers: { authorization: `Bearer ${token}` } })

    /** 401 invalid_token with `code`, and nothing reached the upstream. */
    async function rejects(gateway: Gateway, token: string, code: string): Promise<void> {
      await expectRejected(await get(gateway, token), code)
      expect(upstream.seen).toEqual([])
      expect(lure.seen).toEqual([])
    }

    async function accepts(gateway: Gateway, token: string, sub: string): Promise<void> {
      upstream.seen.length = 0
      const response = await get(gateway, token)
      expect(response.status).toBe(200)
      expect(await response.json()).toEqual({ path: '/orders' })
      expect(upstream.seen.map((s) => s.headers.get('x-user-id'))).toEqual([sub])
      upstream.seen.length = 0
    }

    /** Claims every check on the hs gateway accepts; a test changes one thing. */
    const good = (extra: Record<string, unknown> = {}) => ({
      sub: MARKER,
      iss: ISSUER,
      aud: AUDIENCE,
      iat: nowSec(),
      exp: nowSec() + 600,
      ...extra,
    })
    /** The same as an exact JSON text, for hand-built payloads. */
    const goodText = (extra = '') =>
      `{"iss":"${ISSUER}","aud":"${AUDIENCE}","iat":${nowSec()},"exp":${nowSec() + 600}${extra}}`
    const hsSigned = (
      header: string | Record<string, unknown>,
      payload: string | Record<string, unknown>,
    ) => hmacToken(header, payload, hsKey.raw)

    beforeAll(async () => {
      upstream = await recordingUpstream()
      servers.push(upstream)
      ;[rsa, es, evilRsa, evilEs] = await Promise.all([
        keyPair('RS256'),
        keyPair('ES256'),
        attacker('RS256'),
        attacker('ES256'),
      ])
      lure = await recordingUpstream(() => Response.json({ keys: [evilRsa.jwk, evilEs.jwk] }))
      servers.push(lure)
      const octJwk: JWK = {
        kty: 'oct',
        k: b64urlBytes(oct.raw),
        alg: 'HS256',
        kid: 'hmac',
        use: 'sig',
      }
      jwksOct = await jwksServer([octJwk])
      jwksMixed = await jwksServer([octJwk, {
        ...rsa.publicJwk,
        kid: 'rsa1',
        alg: 'RS256',
        use: 'sig',
      }])
      servers.push(jwksOct, jwksMixed)
      const base = { JWTGATE_UPSTREAM: upstream.url, JWTGATE_FORWARD_CLAIMS: 'sub=X-User-Id' }
      const started = await Promise.all([
        startGateway(target, {
          ...base,
          JWTGATE_SECRET: hsKey.config,
          JWTGATE_ISSUER: ISSUER,
          JWTGATE_AUDIENCE: AUDIENCE,
          JWTGATE_MAX_TOKEN_BYTES: String(MAX_TOKEN_BYTES),
        }),
        startGateway(target, { ...base, JWTGATE_PUBLIC_KEY: rsa.spki }),
        startGateway(target, {
          ...base,
          JWTGATE_PUBLIC_KEY: `${rsa.spki}\n${es.spki}`,
          JWTGATE_SECRET: mixedKey.config,
          JWTGATE_REQUIRED_TYP: TYP,
        }),
        startGateway(target, { ...base, JWTGATE_JWKS_URL: `${jwksOct.url}/jwks` }),
        startGateway(target, {
          ...base,
          JWTGATE_JWKS_URL: `${jwksMixed.url}/jwks`,
          JWTGATE_ALGORITHMS: 'RS256,HS256',
        }),
      ])
      gateways.push(...started)
      ;[hs, rsaOnly, mixed, octOnly, octAndRsa] = started
      await pollUntil(async () => (await fetch(`${octAndRsa.url}/readyz`)).status === 200, 5000)
    })

    afterAll(async () => {
      await Promise.all(gateways.map((g) => g.kill()))
      await Promise.all(servers.map((s) => s.close()))
    })

    beforeEach(() => {
      upstream.seen.length = 0
      lure.seen.length = 0
    })

    describe('controls (the corpus is not vacuous)', () => {
      test('a well-formed token is accepted by each gateway', async () => {
        await accepts(
          hs,
          await sign(good({ sub: 'alice' }), { alg: 'HS256', key: hsKey.raw }),
          'alice',
        )
        await accepts(
          rsaOnly,
          await sign({ sub: 'bob' }, { alg: 'RS256', key: rsa.privateKey }),
          'bob',
        )
        for (
          const [alg, key] of [['RS256', rsa.privateKey], ['ES256', es.privateKey], [
            'HS256',
            mixedKey.raw,
          ]] as const
        ) {
          await accepts(mixed, await sign({ sub: alg }, { alg, key, header: { typ: TYP } }), alg)
        }
        await accepts(
          octAndRsa,
          await sign({ sub: 'carol' }, { alg: 'RS256', key: rsa.privateKey, kid: 'rsa1' }),
          'carol',
        )
      })

      test('a hand-built HS256 token (forge.ts) is accepted: rejections below are for the class, not the forging', async () => {
        await accepts(hs, hsSigned({ alg: 'HS256', typ: 'JWT' }, good({ sub: 'dave' })), 'dave')
      })
    })

    describe('alg none', () => {
      test('alg "none" keeping a valid signature segment is alg_not_allowed', async () => {
        const [, payload, signature] = (await sign(good(), { alg: 'HS256', key: hsKey.raw })).split(
          '.',
        )
        await rejects(
          hs,
          `${b64url({ alg: 'none', typ: 'JWT' })}.${payload}.${signature}`,
          'alg_not_allowed',
        )
      })

      test('alg "none" unsecured (empty signature segment) is token_malformed', async () => {
        await rejects(hs, `${b64url({ alg: 'none' })}.${b64url(good())}.`, 'token_malformed')
      })

      for (const alg of ['None', 'NONE', 'nOnE']) {
        test(`alg "${alg}" (case variant) is alg_not_allowed, with or without a signature`, async () => {
          await rejects(
            hs,
            `${b64url({ alg })}.${b64url(good())}.${b64urlText('x')}`,
            'alg_not_allowed',
          )
          await rejects(hs, hsSigned({ alg }, good()), 'alg_not_allowed')
          await rejects(hs, `${b64url({ alg })}.${b64url(good())}.`, 'token_malformed')
        })
      }

      test('a missing or non-string alg is token_malformed', async () => {
        for (
          const header of [
            '{}',
            '{"alg":null}',
            '{"alg":["HS256"]}',
            '{"alg":{"name":"HS256"}}',
            '{"alg":256}',
          ]
        ) {
          await rejects(hs, hsSigned(header, good()), 'token_malformed')
        }
      })
    })

    describe('algorithm and key confusion', () => {
      /** The forms of an RSA public key an attacker may try as an HMAC secret. */
      async function publicKeyAsSecret(pair: KeyPair): Promise<(string | Uint8Array)[]> {
        const der = new Uint8Array(
          await crypto.subtle.exportKey('spki', pair.publicKey as CryptoKey),
        )
        return [
          pair.spki,
          pair.spki.trim(),
          `${pair.spki.trim()}\n`,
          pair.spki.replace(/\n/g, '\r\n'),
          der,
          JSON.stringify(pair.publicJwk),
        ]
      }

      test('HS256 signed with the RSA public key PEM, gateway with only that RSA key: alg_not_allowed', async () => {
        for (const key of await publicKeyAsSecret(rsa)) {
          await rejects(
            rsaOnly,
            hmacToken({ alg: 'HS256', typ: 'JWT' }, { sub: MARKER, exp: nowSec() + 600 }, key),
            'alg_not_allowed',
          )
        }
      })

      test('HS256 signed with the RSA (or EC) public key PEM, gateway with RSA, EC and an HMAC secret: still bad_signature', async () => {
        for (const key of [...(await publicKeyAsSecret(rsa)), ...(await publicKeyAsSecret(es))]) {
          await rejects(
            mixed,
            hmacToken({ alg: 'HS256', typ: TYP }, { sub: MARKER, exp: nowSec() + 600 }, key),
            'bad_signature',
          )
        }
      })

      test('HS384 and HS512 with the real 32-byte secret (shorter than their hash) are alg_not_allowed', async () => {
        await rejects(
          hs,
          hmacToken({ alg: 'HS384' }, good(), hsKey.raw, 'sha384'),
          'alg_not_allowed',
        )
        await rejects(
          hs,
          hmacToken({ alg: 'HS512' }, good(), hsKey.raw, 'sha512'),
          'alg_not_allowed',
        )
      })

      test('RS256 signed by an attacker is bad_signature; ES256 on an RSA-only gateway is alg_not_allowed', async () => {
        const claims = { sub: MARKER, exp: nowSec() + 600 }
        await rejects(
          rsaOnly,
          await new SignJWT(claims).setProtectedHeader({ alg: 'RS256' }).sign(evilRsa.privateKey),
          'bad_signature',
        )
        await rejects(
          rsaOnly,
          await new SignJWT(claims).setProtectedHeader({ alg: 'ES256' }).sign(evilEs.privateKey),
          'alg_not_allowed',
        )
      })
    })

    describe('keys and URLs in the token header are never used', () => {
      const claims = () => ({ sub: MARKER, exp: nowSec() + 600 })

      test('a header "jwk" carrying the attacker\'s key, signed with the attacker\'s private key: bad_signature', async () => {
        const { kid: _kid, ...jwk } = evilRsa.jwk
        const token = await new SignJWT(claims()).setProtectedHeader({ alg: 'RS256', jwk }).sign(
          evilRsa.privateKey,
        )
        await rejects(rsaOnly, token, 'bad_signature')
        const withKid = await new SignJWT(claims()).setProtectedHeader({
          alg: 'RS256',
          kid: evilRsa.jwk.kid,
          jwk: evilRsa.jwk,
        }).sign(evilRsa.privateKey)
        await rejects(rsaOnly, withKid, 'bad_signature')
      })

      test('a header "jku" pointing at the attacker\'s JWK Set: bad_signature and no outbound request', async () => {
        const token = await new SignJWT(claims())
          .setProtectedHeader({ alg: 'RS256', kid: evilRsa.jwk.kid, jku: `${lure.url}/jwks.json` })
          .sign(evilRsa.privateKey)
        await rejects(rsaOnly, token, 'bad_signature')
        await rejects(octAndRsa, token, 'unknown_key')
        expect(lure.seen).toEqual([])
      })

      test('a header "x5u" pointing at the attacker\'s certificate: bad_signature and no outbound request', async () => {
        const token = await new SignJWT(claims()).setProtectedHeader({
          alg: 'RS256',
          x5u: `${lure.url}/cert.pem`,
        }).sign(evilRsa.privateKey)
        await rejects(rsaOnly, token, 'bad_signature')
        expect(lure.seen).toEqual([])
      })

      test('a header "x5c" embedding the attacker\'s self-signed certificate (RSA and EC): bad_signature', async () => {
        const rsaToken = await new SignJWT(claims()).setProtectedHeader({
          alg: 'RS256',
          x5c: [evilRsa.certificate],
        }).sign(evilRsa.privateKey)
        await rejects(rsaOnly, rsaToken, 'bad_signature')
        const esToken = await new SignJWT(claims()).setProtectedHeader({
          alg: 'ES256',
          typ: TYP,
          x5c: [evilEs.certificate],
        }).sign(evilEs.privateKey)
        await rejects(mixed, esToken, 'bad_signature')
      })

      test("jwk, jku, x5u and x5c all at once, with the attacker's kid: bad_signature and no outbound request", async () => {
        const header = {
          alg: 'ES256',
          typ: TYP,
          kid: evilEs.jwk.kid,
          jwk: evilEs.jwk,
          jku: `${lure.url}/jwks`,
          x5u: `${lure.url}/x5u`,
          x5c: [evilEs.certificate],
        }
        await rejects(
          mixed,
          await new SignJWT(claims()).setProtectedHeader(header).sign(evilEs.privateKey),
          'bad_signature',
        )
        expect(lure.seen).toEqual([])
      })
    })

    describe('oct keys in a remote JWK Set are never used', () => {
      test('a JWKS holding only an oct key: HS256 signed with that secret is alg_not_allowed, and the set never loads', async () => {
        await rejects(
          octOnly,
          hmacToken({ alg: 'HS256', kid: 'hmac' }, { sub: MARKER, exp: nowSec() + 600 }, oct.raw),
          'alg_not_allowed',
        )
        await rejects(
          octOnly,
          hmacToken({ alg: 'HS256' }, { sub: MARKER, exp: nowSec() + 600 }, oct.raw),
          'alg_not_allowed',
        )
        const readyz = await fetch(`${octOnly.url}/readyz`)
        expect(readyz.status).toBe(503)
        await readyz.body?.cancel()
        expect(jwksOct.requests.every((p) => p === '/jwks')).toBe(true)
      })

      test('a JWKS holding an oct key beside an RSA key, HS256 allowed: the oct secret is unknown_key', async () => {
        await rejects(
          octAndRsa,
          hmacToken({ alg: 'HS256', kid: 'hmac' }, { sub: MARKER, exp: nowSec() + 600 }, oct.raw),
          'unknown_key',
        )
        await rejects(
          octAndRsa,
          hmacToken({ alg: 'HS256' }, { sub: MARKER, exp: nowSec() + 600 }, oct.raw),
          'unknown_key',
        )
        expect(jwksMixed.requests.every((p) => p === '/jwks')).toBe(true)
      })
    })

    describe('unknown kids cannot turn the gateway into an amplifier', () => {
      test('50 tokens with random unknown kids cause at most one JWKS refetch (cooldown), and all are unknown_key', async () => {
        const before = jwksMixed.requests.length
        const responses = await Promise.all(
          Array.from(
            { length: 50 },
            () =>
              get(
                octAndRsa,
                hmacToken({ alg: 'RS256', kid: crypto.randomUUID() }, {
                  sub: MARKER,
                  exp: nowSec() + 600,
                }, 'x'),
              ),
          ),
        )
        for (const response of responses) await expectRejected(response, 'unknown_key')
        expect(jwksMixed.requests.length - before).toBeLessThanOrEqual(1)
        expect(upstream.seen).toEqual([])
      })
    })

    describe('ECDSA psychic signatures (CVE-2022-21449)', () => {
      const forged = (signature: Uint8Array) =>
        `${b64url({ alg: 'ES256', typ: TYP })}.${b64url({ sub: MARKER, exp: nowSec() + 600 })}.${
          b64urlBytes(signature)
        }`

      test('an ES256 signature of 64 zero bytes (r = s = 0) is bad_signature', async () => {
        await rejects(mixed, forged(new Uint8Array(64)), 'bad_signature')
      })

      test('an ES256 signature with r = s = n (the group order) is bad_signature', async () => {
        await rejects(
          mixed,
          forged(new Uint8Array([...P256_ORDER, ...P256_ORDER])),
          'bad_signature',
        )
      })

      test('truncated, oversized and DER-encoded ES256 signatures are bad_signature', async () => {
        const real =
          (await sign({ sub: MARKER }, { alg: 'ES256', key: es.privateKey, header: { typ: TYP } }))
            .split('.')
        const raw = Uint8Array.from(
          atob(real[2]!.replace(/-/g, '+').replace(/_/g, '/')),
          (c) => c.charCodeAt(0),
        )
        const der = new Uint8Array([
          0x30,
          68,
          0x02,
          32,
          ...raw.subarray(0, 32),
          0x02,
          32,
          ...raw.subarray(32),
        ])
        for (const signature of [raw.subarray(0, 32), new Uint8Array([...raw, 0]), der]) {
          await rejects(
            mixed,
            `${b64url({ alg: 'ES256', typ: TYP })}.${
              b64url({ sub: MARKER, exp: nowSec() + 600 })
            }.${b64urlBytes(signature)}`,
            'bad_signature',
          )
        }
      })
    })

    describe('kid is only a selector', () => {
      test("kid path traversal (signed with an empty key, and with /dev/null's contents) is bad_signature", async () => {
        for (
          const kid of [
            '../../../../../../dev/null',
            '/dev/null',
            '..\\..\\windows\\win.ini',
            'file:///etc/passwd',
          ]
        ) {
          await rejects(hs, hmacToken({ alg: 'HS256', kid }, good(), ''), 'bad_signature')
          await rejects(
            hs,
            hmacToken({ alg: 'HS256', kid }, good(), new Uint8Array(1)),
            'bad_signature',
          )
        }
      })

      test('kid SQL injection, signed with the secret the injection would select, is bad_signature', async () => {
        for (
          const kid of ["x' UNION SELECT 'attacker-secret' --", '1; DROP TABLE keys', "' OR '1'='1"]
        ) {
          await rejects(
            hs,
            hmacToken({ alg: 'HS256', kid }, good(), 'attacker-secret'),
            'bad_signature',
          )
        }
      })

      test('a kid of 257 or 300 characters is token_malformed (256 is still a selector)', async () => {
        await rejects(
          hs,
          hsSigned({ alg: 'HS256', kid: 'k'.repeat(300) }, good()),
          'token_malformed',
        )
        await rejects(
          hs,
          hsSigned({ alg: 'HS256', kid: 'k'.repeat(257) }, good()),
          'token_malformed',
        )
        await rejects(
          hs,
          hmacToken({ alg: 'HS256', kid: 'k'.repeat(256) }, good(), 'attacker-secret'),
          'bad_signature',
        )
      })

      test('a non-string kid (number, null, boolean, array, object) is token_malformed', async () => {
        for (const kid of ['1', 'null', 'true', '["a"]', '{"path":"/dev/null"}']) {
          await rejects(hs, hsSigned(`{"alg":"HS256","kid":${kid}}`, good()), 'token_malformed')
        }
      })

      test('a kid with control characters, non-ASCII or nothing in it is token_malformed', async () => {
        for (
          const kid of [
            'a\r\nX-Admin: 1',
            'a\nb',
            'a\u0000b',
            'a\tb',
            'a\u007fb',
            'k\u00e9y',
            '\u2028',
            '',
          ]
        ) {
          await rejects(hs, hsSigned({ alg: 'HS256', kid }, good()), 'token_malformed')
        }
      })
    })

    describe('header extensions', () => {
      test('crit naming an unknown extension is token_malformed', async () => {
        await rejects(
          hs,
          hsSigned({ alg: 'HS256', crit: ['x-unknown'], 'x-unknown': true }, good()),
          'token_malformed',
        )
        await rejects(hs, hsSigned({ alg: 'HS256', crit: [] }, good()), 'token_malformed')
        await rejects(
          hs,
          hsSigned({ alg: 'HS256', crit: ['exp'], exp: nowSec() + 600 }, good()),
          'token_malformed',
        )
      })

      test('b64: false (unencoded payload, RFC 7797) is token_malformed, with or without crit', async () => {
        await rejects(
          hs,
          hsSigned({ alg: 'HS256', b64: false, crit: ['b64'] }, good()),
          'token_malformed',
        )
        await rejects(hs, hsSigned({ alg: 'HS256', b64: false }, good()), 'token_malformed')
      })
    })

    describe('duplicate member names (signed with the real key)', () => {
      test('duplicate "sub" in the payload is token_malformed', async () => {
        await rejects(
          hs,
          hsSigned({ alg: 'HS256' }, goodText(`,"sub":"a","sub":"admin-${MARKER}"`)),
          'token_malformed',
        )
      })

      test('duplicate "alg" in the header is token_malformed, in either order', async () => {
        await rejects(hs, hsSigned('{"alg":"HS256","alg":"none"}', good()), 'token_malformed')
        await rejects(hs, hsSigned('{"alg":"none","alg":"HS256"}', good()), 'token_malformed')
        await rejects(
          hs,
          hsSigned('{"alg":"HS256","kid":"a","kid":"b"}', good()),
          'token_malformed',
        )
      })

      test('duplicates spelled with escapes ("su\\u0062", "\\u0073ub", "\\u0061lg") are token_malformed', async () => {
        await rejects(
          hs,
          hsSigned({ alg: 'HS256' }, goodText(`,"sub":"a","su\\u0062":"admin-${MARKER}"`)),
          'token_malformed',
        )
        await rejects(
          hs,
          hsSigned(
            { alg: 'HS256' },
            goodText(`,"\\u0073\\u0075\\u0062":"admin-${MARKER}","sub":"a"`),
          ),
          'token_malformed',
        )
        await rejects(hs, hsSigned('{"alg":"HS256","\\u0061lg":"none"}', good()), 'token_malformed')
      })

      test('duplicates of exp, iss and aud (one good, one bad) are token_malformed', async () => {
        await rejects(
          hs,
          hsSigned({ alg: 'HS256' }, goodText(`,"sub":"a","exp":1`)),
          'token_malformed',
        )
        await rejects(
          hs,
          hsSigned({ alg: 'HS256' }, goodText(`,"sub":"a","iss":"https://${MARKER}.example"`)),
          'token_malformed',
        )
        await rejects(
          hs,
          hsSigned({ alg: 'HS256' }, goodText(`,"sub":"a","aud":"${MARKER}"`)),
          'token_malformed',
        )
      })

      test('a duplicate inside a nested object or an array of objects is token_malformed', async () => {
        await rejects(
          hs,
          hsSigned(
            { alg: 'HS256' },
            goodText(`,"sub":"a","realm":{"roles":["user"],"roles":["admin"]}`),
          ),
          'token_malformed',
        )
        await rejects(
          hs,
          hsSigned({ alg: 'HS256' }, goodText(`,"sub":"a","list":[{"x":1,"x":2}]`)),
          'token_malformed',
        )
      })
    })

    describe('NumericDates and time claims', () => {
      test('exp as a string is claim_invalid', async () => {
        await rejects(
          hs,
          hsSigned({ alg: 'HS256' }, good({ exp: String(nowSec() + 600) })),
          'claim_invalid',
        )
      })

      test('exp 1e400 (Infinity after JSON.parse), iat 1e400 and exp null are claim_invalid', async () => {
        await rejects(
          hs,
          hsSigned(
            { alg: 'HS256' },
            `{"sub":"a","iss":"${ISSUER}","aud":"${AUDIENCE}","exp":1e400}`,
          ),
          'claim_invalid',
        )
        await rejects(
          hs,
          hsSigned(
            { alg: 'HS256' },
            `{"sub":"a","iss":"${ISSUER}","aud":"${AUDIENCE}","exp":${nowSec() + 600},"iat":1e400}`,
          ),
          'claim_invalid',
        )
        await rejects(
          hs,
          hsSigned(
            { alg: 'HS256' },
            `{"sub":"a","iss":"${ISSUER}","aud":"${AUDIENCE}","exp":null}`,
          ),
          'claim_invalid',
        )
      })

      test('nbf as a string, iat as a boolean are claim_invalid', async () => {
        await rejects(
          hs,
          hsSigned({ alg: 'HS256' }, good({ nbf: String(nowSec()) })),
          'claim_invalid',
        )
        await rejects(hs, hsSigned({ alg: 'HS256' }, good({ iat: true })), 'claim_invalid')
      })

      test('a token without exp (required by default) is claim_missing', async () => {
        await rejects(
          hs,
          hsSigned({ alg: 'HS256' }, { sub: MARKER, iss: ISSUER, aud: AUDIENCE }),
          'claim_missing',
        )
      })

      test('nbf in the future (beyond the 30 s skew) is token_not_yet_valid', async () => {
        await rejects(
          hs,
          hsSigned({ alg: 'HS256' }, good({ nbf: nowSec() + 300 })),
          'token_not_yet_valid',
        )
      })

      test('iat in the future (beyond the 30 s skew) is token_not_yet_valid', async () => {
        await rejects(
          hs,
          hsSigned({ alg: 'HS256' }, good({ iat: nowSec() + 300 })),
          'token_not_yet_valid',
        )
      })

      test('an expired token (beyond the skew) is token_expired', async () => {
        await rejects(
          hs,
          hsSigned({ alg: 'HS256' }, good({ exp: nowSec() - 120, iat: nowSec() - 3600 })),
          'token_expired',
        )
      })
    })

    describe('issuer, audience and type', () => {
      test('a wrong, look-alike or array iss is wrong_issuer; a missing iss is claim_missing', async () => {
        for (
          const iss of [
            'https://evil.example',
            `${ISSUER}.evil.example`,
            `${ISSUER}/`,
            'HTTPS://ISSUER.EXAMPLE',
            [ISSUER],
          ]
        ) {
          await rejects(hs, hsSigned({ alg: 'HS256' }, good({ iss })), 'wrong_issuer')
        }
        const { iss: _iss, ...noIss } = good()
        await rejects(hs, hsSigned({ alg: 'HS256' }, noIss), 'claim_missing')
      })

      test('a wrong, look-alike or array-of-wrong aud is wrong_audience; a missing aud is claim_missing', async () => {
        for (
          const aud of ['api://other', `${AUDIENCE}-evil`, `${AUDIENCE} `, ['api://other', 'x'], []]
        ) {
          await rejects(hs, hsSigned({ alg: 'HS256' }, good({ aud })), 'wrong_audience')
        }
        const { aud: _aud, ...noAud } = good()
        await rejects(hs, hsSigned({ alg: 'HS256' }, noAud), 'claim_missing')
      })

      test('JWTGATE_REQUIRED_TYP=at+jwt: a validly signed typ "JWT" token (an ID token) is wrong_type', async () => {
        await rejects(
          mixed,
          await sign({ sub: MARKER }, {
            alg: 'RS256',
            key: rsa.privateKey,
            header: { typ: 'JWT' },
          }),
          'wrong_type',
        )
        await rejects(
          mixed,
          await sign({ sub: MARKER }, { alg: 'ES256', key: es.privateKey }),
          'wrong_type',
        )
        await rejects(
          mixed,
          await sign({ sub: MARKER }, {
            alg: 'HS256',
            key: mixedKey.raw,
            header: { typ: 'id+jwt' },
          }),
          'wrong_type',
        )
      })
    })

    describe('compact serialisation and size', () => {
      test('a validly signed token over JWTGATE_MAX_TOKEN_BYTES is token_malformed; one at the limit is accepted', async () => {
        /** A validly signed token of exactly `length` characters (the header's filler and the payload's padding vary). */
        const sized = (length: number) => {
          for (let filler = 0; filler < 8; filler++) {
            const header = { alg: 'HS256', x: 'f'.repeat(filler) }
            const bare = hsSigned(header, good({ sub: 'x', pad: '' })).length
            const first = Math.max(0, Math.floor(((length - bare) * 3) / 4) - 4)
            for (let pad = first; pad < first + 12; pad++) {
              const token = hsSigned(header, good({ sub: 'x', pad: 'p'.repeat(pad) }))
              if (token.length === length) return token
            }
          }
          throw new Error(`no token of length ${length}`)
        }
        await rejects(hs, sized(MAX_TOKEN_BYTES + 1), 'token_malformed')
        await rejects(
          hs,
          `${hsSigned({ alg: 'HS256' }, good())}.${'A'.repeat(6000)}`,
          'token_malformed',
        )
        await accepts(hs, sized(MAX_TOKEN_BYTES), 'x')
      })

      test('1, 2, 4 and 5 segments are token_malformed', async () => {
        const [h, p, s] = hsSigned({ alg: 'HS256' }, good()).split('.')
        for (
          const token of [
            `${h}${p}${s}`,
            `${h}.${p}`,
            `${h}.${p}.${s}.${s}`,
            `${h}.${p}.${s}.${h}.${p}`,
            `${h}.${p}.${s}.`,
          ]
        ) {
          await rejects(hs, token, 'token_malformed')
        }
      })

      test('an empty signature, header or payload segment is token_malformed', async () => {
        const [h, p, s] = hsSigned({ alg: 'HS256' }, good()).split('.')
        for (const token of [`${h}.${p}.`, `.${p}.${s}`, `${h}..${s}`, '..', '...']) {
          await rejects(hs, token, 'token_malformed')
        }
      })

      test('base64 with "=" padding, "+" or "/" (not base64url) is token_malformed', async () => {
        const [h, p, s] = hsSigned({ alg: 'HS256' }, good()).split('.')
        const pad = (x: string) => x + '='.repeat((4 - (x.length % 4)) % 4 || 1)
        const std = (x: string) => x.replace(/-/g, '+').replace(/_/g, '/')
        for (
          const token of [
            `${pad(h!)}.${p}.${s}`,
            `${h}.${pad(p!)}.${s}`,
            `${h}.${p}.${pad(s!)}`,
            `${h}.${p}.${s}+/`,
            `${std(h!)}+.${p}.${s}`,
            `${h}.${p}.${std(s!)}/`,
          ]
        ) {
          await rejects(hs, token, 'token_malformed')
        }
      })

      test('whitespace, quotes or a comma inside the token are token_malformed', async () => {
        const [h, p, s] = hsSigned({ alg: 'HS256' }, good()).split('.')
        for (
          const token of [
            `${h}. ${p}.${s}`,
            `${h}.${p}\t.${s}`,
            `"${h}.${p}.${s}"`,
            `${h}.${p}.${s},${h}.${p}.${s}`,
          ]
        ) {
          await rejects(hs, token, 'token_malformed')
        }
      })

      test('a header or payload that is not a JSON object, not JSON or not UTF-8 is token_malformed', async () => {
        for (
          const [header, payload] of [
            ['[]', goodText()],
            ['"HS256"', goodText()],
            ['{"alg":"HS256"}', '[1,2]'],
            ['{"alg":"HS256"}', '"sub"'],
            ['{"alg":"HS256"}', 'null'],
            ['{"alg":"HS256"', goodText()],
            ['{"alg":"HS256"}', `${goodText()}x`],
          ] as const
        ) {
          await rejects(hs, hsSigned(header, payload), 'token_malformed')
        }
        const notUtf8 = `${
          b64urlBytes(new Uint8Array([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]))
        }.${b64url(good())}`
        await rejects(hs, `${notUtf8}.${b64urlText('sig')}`, 'token_malformed')
      })

      test('a tampered payload under the original signature is bad_signature', async () => {
        const [h, , s] = hsSigned({ alg: 'HS256' }, good({ sub: 'alice' })).split('.')
        await rejects(hs, `${h}.${b64url(good({ sub: `admin-${MARKER}` }))}.${s}`, 'bad_signature')
      })
    })

    describe('claims forwarded as headers', () => {
      test('sub "a\\r\\nX-Admin: 1" (header injection), forwarded as X-User-Id, is claim_invalid', async () => {
        await rejects(
          hs,
          hsSigned({ alg: 'HS256' }, good({ sub: `a\r\nX-Admin: 1\r\nX-${MARKER}: 1` })),
          'claim_invalid',
        )
      })

      test('sub with a lone LF, a lone CR, NUL, tab, DEL or other C0 controls is claim_invalid', async () => {
        for (const sub of ['a\nb', 'a\rb', 'a\u0000b', 'a\tb', 'a\u007fb', 'a\u001bb', '\u000b']) {
          await rejects(hs, hsSigned({ alg: 'HS256' }, good({ sub })), 'claim_invalid')
        }
      })

      test('sub as an array whose items hold CR LF is claim_invalid', async () => {
        await rejects(
          hs,
          hsSigned({ alg: 'HS256' }, good({ sub: ['a', 'b\r\nX-Admin: 1'] })),
          'claim_invalid',
        )
      })

      test('a claim beyond Latin-1 ("日本", an emoji) is never a 5xx: 401 claim_invalid, or forwarded as a non-empty header', async () => {
        for (const sub of ['日本', 'x\u{1F600}']) {
          upstream.seen.length = 0
          const response = await get(hs, hsSigned({ alg: 'HS256' }, good({ sub })))
          const text = await response.text()
          expect({ sub, status: response.status, text }).toMatchObject({
            status: expect.any(Number),
          })
          expect(response.status).toBeLessThan(500)
          if (response.status === 401) {
            expect(JSON.parse(text).code).toBe('claim_invalid')
            expect(upstream.seen).toEqual([])
          } else {
            expect(response.status).toBe(200)
            expect(upstream.seen[0]?.headers.get('x-user-id') ?? '').not.toBe('')
          }
        }
      })
    })

    describe('the Authorization header', () => {
      const valid = () => hsSigned({ alg: 'HS256' }, good({ sub: 'alice' }))

      test('"Bearer" with two spaces before the token is token_malformed', async () => {
        await expectRejected(
          await fetch(`${hs.url}/orders`, { headers: { authorization: `Bearer  ${valid()}` } }),
          'token_malformed',
        )
        expect(upstream.seen).toEqual([])
      })

      test('lower- and upper-case "bearer" are accepted (the scheme is case-insensitive)', async () => {
        for (const scheme of ['bearer', 'BEARER', 'BeArEr']) {
          upstream.seen.length = 0
          const response = await fetch(`${hs.url}/orders`, {
            headers: { authorization: `${scheme} ${valid()}` },
          })
          expect(response.status).toBe(200)
          await response.body?.cancel()
          expect(upstream.seen.map((s) => s.headers.get('x-user-id'))).toEqual(['alice'])
        }
      })

      test('the Basic scheme counts as no token: 401 token_missing, no error attribute', async () => {
        await expectRejected(
          await fetch(`${hs.url}/orders`, {
            headers: { authorization: `Basic ${btoa(`${MARKER}:pw`)}` },
          }),
          'token_missing',
        )
        expect(upstream.seen).toEqual([])
      })

      test('"Bearer" with no token is token_malformed', async () => {
        await expectRejected(
          await fetch(`${hs.url}/orders`, { headers: { authorization: 'Bearer' } }),
          'token_malformed',
        )
        await expectRejected(
          await fetch(`${hs.url}/orders`, { headers: { authorization: 'Bearer    ' } }),
          'token_malformed',
        )
        expect(upstream.seen).toEqual([])
      })

      const raw = (authorization: readonly string[]) =>
        `GET /orders HTTP/1.1\r\nHost: 127.0.0.1\r\n${
          authorization.map((v) => `Authorization:${v === '' ? '' : ` ${v}`}\r\n`).join('')
        }Connection: close\r\n\r\n`

      test('the token in two Authorization headers (raw socket) is 401 invalid_token', async () => {
        const token = valid()
        const { responses } = await exchange(hs.port, raw([`Bearer ${token}`, `Bearer ${token}`]))
        expectRawRejected(responses[0], 'token_malformed')
        expect(upstream.seen).toEqual([])
      })

      test('two Authorization headers, Basic then Bearer (raw socket), are 401 invalid_token', async () => {
        const { responses } = await exchange(
          hs.port,
          raw([`Basic ${btoa('u:p')}`, `Bearer ${valid()}`]),
        )
        expect(upstream.seen).toEqual([])
        expectRawRejected(responses[0], 'token_malformed')
      })

      test('two Authorization headers, an empty one then Bearer (raw socket), are 401 invalid_token', async () => {
        const { responses } = await exchange(hs.port, raw(['', `Bearer ${valid()}`]))
        expect(upstream.seen).toEqual([])
        expectRawRejected(responses[0], 'token_malformed')
      })

      test('"Bearer" and the token separated by a tab (raw socket) is 401 invalid_token', async () => {
        const { responses } = await exchange(hs.port, raw([`Bearer\t${valid()}`]))
        expect(upstream.seen).toEqual([])
        expectRawRejected(responses[0], 'token_malformed')
      })
    })

    test('after the whole corpus every gateway is alive and still accepts a good token', async () => {
      await accepts(
        hs,
        await sign(good({ sub: 'after' }), { alg: 'HS256', key: hsKey.raw }),
        'after',
      )
      await accepts(
        rsaOnly,
        await sign({ sub: 'after' }, { alg: 'RS256', key: rsa.privateKey }),
        'after',
      )
      await accepts(
        mixed,
        await sign({ sub: 'after' }, { alg: 'ES256', key: es.privateKey, header: { typ: TYP } }),
        'after',
      )
      await accepts(
        octAndRsa,
        await sign({ sub: 'after' }, { alg: 'RS256', key: rsa.privateKey, kid: 'rsa1' }),
        'after',
      )
    })
  })
}
