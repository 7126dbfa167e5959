/**
 * jwtgate end to end with public keys: PEM keys in JWTGATE_PUBLIC_KEY, and a real JWK Set server
 * that rotates its keys and that is down when the gateway starts. Binary and `deno run` alike.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { keyPair, sign } from '../helpers/keys.ts'
import { freePort, type Gateway, sleep, startGateway, TARGETS } from '../helpers/process.ts'
import { recordingUpstream } from '../helpers/serve.ts'
import { expectInvalidToken, expectProblem, TokenLedger } from '../helpers/assertions.ts'
import { pollUntil } from '../helpers/wait.ts'
import { jwksServer } from '../helpers/files.ts'

/** One bounded /readyz probe. */
async function isReady(gateway: Gateway): Promise<boolean> {
  try {
    const response = await fetch(`${gateway.url}/readyz`, { signal: AbortSignal.timeout(1000) })
    await response.body?.cancel()
    return response.status === 200
  } catch {
    return false
  }
}

for (const target of TARGETS) {
  describe(`${target.name}: public keys`, () => {
    const tokens = new TokenLedger()
    const gateways: Gateway[] = []
    const stops: (() => unknown)[] = []
    let upstream: Awaited<ReturnType<typeof recordingUpstream>>

    const bearer = (t: string) => ({ authorization: `Bearer ${tokens.add(t)}` })
    async function gatewayWith(env: Record<string, string>): Promise<Gateway> {
      const gateway = await startGateway(target, {
        JWTGATE_UPSTREAM: upstream.url,
        JWTGATE_FORWARD_CLAIMS: 'sub=X-User-Id',
        ...env,
      })
      gateways.push(gateway)
      return gateway
    }
    async function expectAllowed(gateway: Gateway, token: string, sub: string): Promise<void> {
      upstream.seen.length = 0
      const response = await fetch(`${gateway.url}/orders`, { headers: bearer(token) })
      expect(response.status).toBe(200)
      expect(await response.json()).toEqual({ path: '/orders' })
      expect(upstream.seen.map((s) => s.headers.get('x-user-id'))).toEqual([sub])
    }

    beforeAll(async () => {
      upstream = await recordingUpstream()
      stops.push(() => upstream.close())
    })

    afterAll(async () => {
      await Promise.all(gateways.map((g) => g.kill()))
      await Promise.all(stops.map((stop) => stop()))
    })

    for (const alg of ['RS256', 'ES256']) {
      test(`an ${alg} token verifies against a PEM public key in JWTGATE_PUBLIC_KEY`, async () => {
        const pair = await keyPair(alg)
        const gateway = await gatewayWith({ JWTGATE_PUBLIC_KEY: pair.spki })
        await expectAllowed(
          gateway,
          await sign({ sub: `${alg}-user` }, { alg, key: pair.privateKey }),
          `${alg}-user`,
        )

        upstream.seen.length = 0
        const other = await keyPair(alg, 'other', false)
        const forged = await sign({ sub: 'mallory' }, { alg, key: other.privateKey })
        await expectInvalidToken(
          await fetch(`${gateway.url}/orders`, { headers: bearer(forged) }),
          'bad_signature',
        )
        // The public key used as an HMAC secret: the classic algorithm-confusion attack.
        const confused = await sign({ sub: 'mallory' }, {
          alg: 'HS256',
          key: new TextEncoder().encode(pair.spki),
        })
        await expectInvalidToken(
          await fetch(`${gateway.url}/orders`, { headers: bearer(confused) }),
          'alg_not_allowed',
        )
        expect(upstream.seen).toEqual([])
      })
    }

    test('a JWKS key rotated in (new kid) is accepted without restarting the gateway', async () => {
      const jwks = jwksServer([])
      stops.push(jwks.stop)
      const k1 = await keyPair('ES256', 'k1')
      const k2 = await keyPair('ES256', 'k2')
      jwks.keys = [k1.publicJwk]
      const gateway = await gatewayWith({ JWTGATE_JWKS_URL: jwks.url, JWTGATE_JWKS_COOLDOWN: '0s' })
      await pollUntil(() => isReady(gateway), 5000)
      await expectAllowed(
        gateway,
        await sign({ sub: 'one' }, { alg: 'ES256', key: k1.privateKey, kid: 'k1' }),
        'one',
      )

      jwks.keys = [k2.publicJwk]
      const fetchesBefore = jwks.fetches
      await expectAllowed(
        gateway,
        await sign({ sub: 'two' }, { alg: 'ES256', key: k2.privateKey, kid: 'k2' }),
        'two',
      )
      expect(jwks.fetches).toBe(fetchesBefore + 1)

      // k1 was retired by the rotation: its tokens no longer verify.
      upstream.seen.length = 0
      const retired = await sign({ sub: 'one' }, { alg: 'ES256', key: k1.privateKey, kid: 'k1' })
      await expectInvalidToken(
        await fetch(`${gateway.url}/orders`, { headers: bearer(retired) }),
        'unknown_key',
      )
      expect(upstream.seen).toEqual([])
    })

    test(
      'a JWKS that is down at start: /readyz 503 and 503 keys_unavailable, then ready once it comes up',
      async () => {
        const port = freePort()
        const k1 = await keyPair('ES256', 'k1')
        const token = await sign({ sub: 'late' }, { alg: 'ES256', key: k1.privateKey, kid: 'k1' })
        const gateway = await gatewayWith({
          JWTGATE_JWKS_URL: `http://127.0.0.1:${port}/jwks`,
          JWTGATE_JWKS_COOLDOWN: '0s',
        })

        const healthz = await fetch(`${gateway.url}/healthz`)
        expect(healthz.status).toBe(200)
        expect(await healthz.json()).toEqual({ status: 'ok' })
        const readyz = await fetch(`${gateway.url}/readyz`)
        expect(readyz.status).toBe(503)
        expect(await readyz.json()).toEqual({ status: 'starting' })
        upstream.seen.length = 0
        const early = await fetch(`${gateway.url}/orders`, { headers: bearer(token) })
        await expectProblem(early, 503, 'keys_unavailable')
        expect(early.headers.get('retry-after')).toBe('1')
        expect(upstream.seen).toEqual([])

        // Up a little later, after more than one failed start-up attempt.
        await sleep(700)
        const jwks = jwksServer([], port)
        stops.push(jwks.stop)
        jwks.keys = [k1.publicJwk]
        const waited = await pollUntil(() => isReady(gateway), 8000)
        expect(waited).toBeLessThan(4000)
        // With workers (Deno's `auto` is one per core), /readyz on the main port is every
        // worker's answer: whichever takes the next request has the keys.
        await expectAllowed(gateway, token, 'late')
      },
      15_000,
    )

    test('no log line contains a token', () => {
      const output = gateways.map((g) => g.output()).join('\n')
      expect(output).toContain('"event":"jwks_loaded"')
      tokens.expectAbsentFrom(output)
    })
  })
}
