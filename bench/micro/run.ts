/**
 * @module The micro-benchmarks of jwtgate's hot functions, under either runtime:
 *   bun bench/micro/run.ts            deno run -A bench/micro/run.ts
 * mitata's tables first, then one line per algorithm for issue 6's target, uncached
 * verification ≤ jose's jwtVerify + 10%, measured in alternation (paired.ts). Absolute times
 * move with the machine; compare within one run. `BENCH_FILTER=regex`: only the benchmarks whose
 * name matches.
 */
import { jwtVerify } from 'jose'
import { run } from 'mitata'
import { fixture } from './fixtures.ts'
import { gatewayBenches } from './gateway.ts'
import { headerBenches } from './headers.ts'
import { paired } from './paired.ts'
import { routingBenches } from './routing.ts'
import { names, verifyBenches } from './verify.ts'

const runtime = 'Deno' in globalThis ? 'deno' : 'Bun' in globalThis ? 'bun' : 'other'
const fixtures = [await fixture('HS256'), await fixture('RS256')]
for (const f of fixtures) verifyBenches(f)
routingBenches()
headerBenches(fixtures[0]!)
for (const f of fixtures) gatewayBenches(f)

const filter = (globalThis as { process?: { env: Record<string, string | undefined> } })
  .process
  ?.env.BENCH_FILTER
const { benchmarks } = await run(filter ? { filter: new RegExp(filter) } : {})

const p50 = (name: string) => benchmarks.find((b) => b.alias === name)?.runs[0]?.stats?.p50
const us = (
  ns: number | undefined,
) => (ns === undefined ? '—' : `${(ns / 1000).toFixed(2)} µs`)
console.log(
  `\nIssue 6 target, ${runtime}: uncached verification ≤ 1.10 × jose's jwtVerify`,
)
console.log(
  '(jose and verifier.verify: 4,000 alternating calls each, mean of the middle 80%; decide(): mitata medians)',
)
for (const f of fixtures) {
  const n = names(f.alg)
  const verifier = f.missing.providers.values().next().value!.verifier
  const both = await paired(
    () => jwtVerify(f.token, f.joseKey, { algorithms: [f.alg] }),
    () => verifier.verify(f.token),
  )
  const ratio = both.b / both.a
  console.log(
    `  ${f.alg}: jose ${us(both.a)} · verifier.verify ${us(both.b)} (${ratio.toFixed(2)}× ${
      ratio <= 1.1 ? '✓' : '✗'
    }, ${both.b >= both.a ? '+' : '−'}${us(Math.abs(both.b - both.a))}) · ` +
      `decide miss ${us(p50(n.miss))} · decide hit ${us(p50(n.hit))}`,
  )
}
