/**
 * @module Token verification, per token: jose's own jwtVerify (the floor jwtgate builds on),
 * jwtgate's verifier (header read, key choice, jose, its extra checks), and the whole access
 * decision for a token seen for the first time (cache miss: verify and store) and seen before
 * (cache hit: a Map lookup and the clock checks). Issue 6: uncached ≤ jose + 10%.
 */
import { bench, do_not_optimize, group, summary } from 'mitata'
import { jwtVerify } from 'jose'
import { decide } from '../../tests/helpers/decide.ts'
import { normalizeTarget } from '../../src/core/routing/path.ts'
import { clientRequest, type Fixture } from './fixtures.ts'

/** Benchmark names, shared with run.ts's summary. */
export const names = (alg: string) => ({
  jose: `${alg} jose jwtVerify (CryptoKey)`,
  verifier: `${alg} jwtgate verifier.verify (uncached)`,
  miss: `${alg} jwtgate decide(): cache miss`,
  hit: `${alg} jwtgate decide(): cache hit`,
})

export function verifyBenches(f: Fixture): void {
  const name = names(f.alg)
  const verifier = f.missing.providers.values().next().value!.verifier
  const target = normalizeTarget(
    'http://gateway.test/api/orders/42?expand=items',
  )
  const one = clientRequest(f.token)
  const rotating = f.pool.map((token) => clientRequest(token))
  let i = 0
  void decide(f.cached, one, target) // the hit benchmark finds it cached

  group(`verify ${f.alg}`, () => {
    summary(() => {
      bench(
        name.jose,
        async () =>
          do_not_optimize(
            await jwtVerify(f.token, f.joseKey, { algorithms: [f.alg] }),
          ),
      ).baseline(true)
      bench(
        name.verifier,
        async () => do_not_optimize(await verifier.verify(f.token)),
      )
      // A one-entry cache and a rotating pool: every lookup misses, every verification is stored.
      bench(
        name.miss,
        async () =>
          do_not_optimize(
            await decide(f.missing, rotating[i++ % rotating.length]!, target),
          ),
      )
      bench(name.hit, () => do_not_optimize(decide(f.cached, one, target)))
    })
  })
}
