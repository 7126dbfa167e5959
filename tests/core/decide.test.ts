/**
 * decide(): the access decision. The property the verified-token cache must keep, for every
 * configuration (issue 10, defect 1): a request decided with the cache gets exactly the answer it
 * gets with the cache off. Random providers share issuers, keys and audiences and look for tokens
 * in overlapping sources; random routes accept random providers; random sequences of requests,
 * with a clock that moves across tokens' exp/nbf/iat, go to two states built from the same
 * configuration, one with a cache and one without. FUZZ_RUNS sets the runs (`npm run fuzz`: many
 * more, random seed); `npm test` runs a fixed seed.
 */
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { SignJWT } from 'jose'
import { loadConfig } from '../../src/core/config/load.ts'
import { decide } from '../helpers/decide.ts'
import { GatewayError } from '../../src/core/errors.ts'
import { silentLogger } from '../../src/core/log.ts'
import { Metrics } from '../../src/core/metrics.ts'
import { normalizeTarget } from '../../src/core/routing/path.ts'
import { buildState, type State } from '../../src/core/state.ts'
import { secret } from '../helpers/keys.ts'
import { envVar, test } from '../helpers/t.ts'

const RUNS = Number(envVar('FUZZ_RUNS') ?? '300')
/** A fixed seed in `npm test` (reproducible); `npm run fuzz` explores. */
const SEED = envVar('FUZZ_RUNS') === undefined ? { seed: 20261130 } : {}
const T0 = 1_800_000_000

const SECRETS = [secret(32), secret(32)]
const ISSUERS = ['https://a.test', 'https://b.test']
const AUDIENCES = ['x', 'y']
const SOURCES = ['header:Authorization', 'cookie:c1', 'query:q']

const subset = <T>(items: readonly T[], min: number) => fc.subarray([...items], { minLength: min })

const provider = fc.record({
  issuer: fc.oneof(fc.constantFrom(...ISSUERS).map((i) => [i]), subset(ISSUERS, 1)),
  audience: fc.option(subset(AUDIENCES, 1), { nil: undefined }),
  secret: fc.nat(SECRETS.length - 1),
  tokenSources: fc.shuffledSubarray(SOURCES, { minLength: 1 }),
  clockSkew: fc.constantFrom(0, 1, 30),
})

const scenario = fc
  .array(provider, { minLength: 1, maxLength: 4 })
  .chain((providers) => {
    const names = providers.map((_, i) => `p${i}`)
    // Every provider (in file order), one, or several in any order.
    const route = fc.oneof(
      fc.constant(undefined),
      fc.constantFrom(...names).map((n) => [n]),
      fc.shuffledSubarray(names, { minLength: 1 }),
    )
    const token = fc.record({
      secret: fc.nat(SECRETS.length - 1),
      iss: fc.constantFrom<string | undefined>(...ISSUERS, 'https://c.test', undefined),
      aud: fc.constantFrom<string | string[] | undefined>(...AUDIENCES, ['x', 'y'], 'z', undefined),
      // Times around T0, fractional ones included (jose compares whole seconds).
      exp: fc.option(
        fc.integer({ min: -40, max: 120 }).map((d) => T0 + d + (d % 3 === 0 ? 0.5 : 0)),
        { nil: undefined },
      ),
      nbf: fc.option(
        fc.integer({ min: -40, max: 60 }).map((d) => T0 + d + (d % 2 === 0 ? 0.25 : 0)),
        { nil: undefined },
      ),
      iat: fc.option(fc.integer({ min: -40, max: 60 }).map((d) => T0 + d), { nil: undefined }),
    })
    const request = fc.record({
      route: fc.nat(2),
      token: fc.nat(2),
      source: fc.nat(SOURCES.length - 1),
      // Milliseconds the clock moves before this request.
      advance: fc.integer({ min: 0, max: 40_000 }),
    })
    return fc.record({
      providers: fc.constant(providers),
      routes: fc.tuple(route, route, route),
      tokens: fc.array(token, { minLength: 3, maxLength: 3 }),
      requests: fc.array(request, { minLength: 1, maxLength: 24 }),
      start: fc.integer({ min: -45_000, max: 45_000 }),
    })
  })

type Scenario = typeof scenario extends fc.Arbitrary<infer S> ? S : never

function configText(s: Scenario, cacheSize: number): string {
  return JSON.stringify({
    tokenCache: { size: cacheSize, maxAge: '1h' },
    providers: Object.fromEntries(
      s.providers.map((p, i) => [
        `p${i}`,
        {
          issuer: p.issuer,
          ...(p.audience === undefined ? {} : { audience: p.audience }),
          secret: SECRETS[p.secret]!.config,
          tokenSources: p.tokenSources,
          clockSkew: p.clockSkew,
          requiredClaims: [],
        },
      ]),
    ),
    upstreams: { main: { url: 'http://127.0.0.1:9' } },
    routes: s.routes.map((providers, i) => ({
      name: `r${i}`,
      path: `/r${i}/*`,
      upstream: 'main',
      ...(providers === undefined ? {} : { providers }),
    })),
  })
}

async function stateFor(s: Scenario, cacheSize: number, clock: { now: number }): Promise<State> {
  const text = configText(s, cacheSize)
  const config = await loadConfig({ JWTGATE_CONFIG: 'decide.json' }, { readFile: () => text })
  return buildState(config, {
    fetch: globalThis.fetch,
    now: () => clock.now,
    logger: silentLogger,
    metrics: new Metrics(clock.now),
  })
}

function sign(t: Scenario['tokens'][number]): Promise<string> {
  const claims: Record<string, unknown> = { sub: 'u' }
  for (const name of ['iss', 'aud', 'exp', 'nbf', 'iat'] as const) {
    if (t[name] !== undefined) claims[name] = t[name]
  }
  return new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(SECRETS[t.secret]!.raw)
}

/** A request carrying `token` in `source` (one of SOURCES). */
function request(path: string, token: string, source: string): Request {
  const headers = new Headers({ host: 'gw' })
  if (source === 'header:Authorization') headers.set('authorization', `Bearer ${token}`)
  if (source === 'cookie:c1') headers.set('cookie', `c1=${token}`)
  const query = source === 'query:q' ? `?q=${token}` : ''
  return new Request(`http://gw${path}${query}`, { headers })
}

/** What decide() answered: the provider and route, or the error code. */
async function outcome(state: State, req: Request): Promise<string> {
  try {
    const decision = await decide(state, req, normalizeTarget(req.url))
    return `allowed ${decision.route.route.name} by ${decision.provider?.config.name}`
  } catch (e) {
    if (e instanceof GatewayError) return e.code
    throw e
  }
}

test(
  'decide(): with the verified-token cache, every request gets the answer it gets with the cache off',
  async () => {
    let hits = 0
    let allowed = 0
    await fc.assert(
      fc.asyncProperty(scenario, async (s) => {
        const clock = { now: (T0 * 1000) + s.start }
        const [cached, fresh] = await Promise.all([stateFor(s, 100, clock), stateFor(s, 0, clock)])
        const tokens = await Promise.all(s.tokens.map(sign))
        for (const r of s.requests) {
          clock.now += r.advance
          const path = `/r${r.route}/x`
          const source = SOURCES[r.source]!
          const withCache = await outcome(cached, request(path, tokens[r.token]!, source))
          const without = await outcome(fresh, request(path, tokens[r.token]!, source))
          assert.equal(
            withCache,
            without,
            `${path} ${source} token ${r.token} at +${clock.now - T0 * 1000} ms`,
          )
          if (withCache.startsWith('allowed')) allowed++
        }
        hits += cached.metrics!.cacheHits.value
        assert.equal(fresh.cache, undefined)
      }),
      { numRuns: RUNS, ...SEED },
    )
    // The property is only worth something if the cache was used: some requests were allowed,
    // and some of those came from it.
    assert.ok(allowed > 0 && hits > 0, `allowed ${allowed}, cache hits ${hits}`)
  },
  120_000,
)
