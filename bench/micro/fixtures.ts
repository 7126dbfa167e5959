/**
 * @module What the micro-benchmarks run on: keys, tokens and gateway states built the way
 * dist/jwtgate builds them from its environment (loadConfig → buildState), with web APIs only so
 * that Bun and Deno run the same file.
 */
import { exportSPKI, generateKeyPair, importSPKI, SignJWT } from 'jose'
import { type Config, loadConfig } from '../../src/core/config/load.ts'
import { silentLogger } from '../../src/core/log.ts'
import { buildState, type State } from '../../src/core/state.ts'

export type Alg = 'HS256' | 'RS256'

export interface Fixture {
  readonly alg: Alg
  /** The key as jose's own users would hold it: a CryptoKey imported once. */
  readonly joseKey: Awaited<ReturnType<typeof importSPKI>>
  /** One token, and a pool of distinct ones (different `sub` and `jti`). */
  readonly token: string
  readonly pool: readonly string[]
  /** The configuration dist/jwtgate gets in bench/run.sh (default cache: 10,000 entries). */
  readonly config: Config
  /** Its state: a repeated token is a cache hit. */
  readonly cached: State
  /** A one-entry cache: rotating two or more tokens makes every lookup a miss. */
  readonly missing: State
}

const hex = (bytes: Uint8Array) =>
  Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')

/** The environment dist/jwtgate is given in bench/run.sh, plus a cache size. */
function env(
  alg: Alg,
  secret: string,
  spki: string,
  cacheSize: number,
): Record<string, string> {
  return {
    JWTGATE_UPSTREAM: 'http://127.0.0.1:9',
    ...(alg === 'HS256' ? { JWTGATE_SECRET: secret } : { JWTGATE_PUBLIC_KEY: spki }),
    JWTGATE_FORWARD_CLAIMS: 'sub=X-User-Id',
    JWTGATE_TOKEN_CACHE_SIZE: String(cacheSize),
  }
}

export async function fixture(alg: Alg, poolSize = 64): Promise<Fixture> {
  const secret = hex(crypto.getRandomValues(new Uint8Array(32)))
  const pair = alg === 'RS256' ? await generateKeyPair('RS256', { extractable: true }) : undefined
  const spki = pair === undefined ? '' : await exportSPKI(pair.publicKey)
  const signingKey = pair?.privateKey ?? new TextEncoder().encode(secret)
  // Imported the way jwtgate imports its keys (importSPKI; a raw HMAC key), so that the baseline
  // differs from jwtgate's verification only in what jwtgate does around jose.
  const joseKey = pair === undefined
    ? ((await crypto.subtle.importKey(
      'raw',
      new TextEncoder().encode(secret),
      { name: 'HMAC', hash: 'SHA-256' },
      false,
      ['verify'],
    )) as Fixture['joseKey'])
    : await importSPKI(spki, 'RS256')
  const now = Math.floor(Date.now() / 1000)
  const sign = (i: number) =>
    new SignJWT({ scope: 'read write', jti: crypto.randomUUID() })
      .setProtectedHeader({ alg, typ: 'JWT' })
      .setIssuer('https://issuer.bench.test')
      .setAudience('bench-api')
      .setSubject(`user-${i}`)
      .setIssuedAt(now)
      .setExpirationTime(now + 3600)
      .sign(signingKey)
  const deps = { fetch: globalThis.fetch, now: Date.now, logger: silentLogger }
  const config = await loadConfig(env(alg, secret, spki, 10_000))
  return {
    alg,
    joseKey,
    token: await sign(0),
    pool: await Promise.all(
      Array.from({ length: poolSize }, (_, i) => sign(i + 1)),
    ),
    config,
    cached: buildState(config, deps),
    missing: buildState(await loadConfig(env(alg, secret, spki, 1)), deps),
  }
}

const BODY = '{"ok":true,"service":"bench-upstream","items":[1,2,3]}'

/**
 * The upstream the in-process benchmarks proxy to: a sized response at once, as the harness's
 * nginx sends.
 */
export const upstreamStub = (_url: string, _init: RequestInit): Promise<Response> =>
  Promise.resolve(
    new Response(BODY, {
      headers: { 'content-type': 'application/json', 'content-length': String(BODY.length) },
    }),
  )

/** createGateway's dependencies as dist/jwtgate passes them (src/bun.ts), with `upstreamStub`. */
export const binaryDeps = {
  fetchInit: { decompress: false },
  headerBuild: 'edit',
  connectionIdleMs: 120_000,
  fetch: upstreamStub as unknown as typeof fetch,
} as const

/** A GET as a client sends it: a browser-like set of headers and the bearer token. */
export function clientRequest(
  token: string,
  path = '/api/orders/42?expand=items',
): Request {
  return new Request(`http://gateway.test${path}`, {
    headers: {
      host: 'gateway.test',
      'user-agent':
        'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36',
      accept: 'application/json',
      'accept-encoding': 'gzip, deflate, br',
      'accept-language': 'en-GB,en;q=0.9',
      authorization: `Bearer ${token}`,
      'x-user-id': 'spoofed',
      cookie: 'session=abc123; theme=dark',
      'x-request-id': 'req-0123456789',
      connection: 'keep-alive',
    },
  })
}
