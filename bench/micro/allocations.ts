/**
 * @module What a handler leaves on the heap per request, by the kind of object (JavaScriptCore's
 * `heapStats`): bun-floor's work, the minimal JWT gateways (floors.ts) and jwtgate, each answering
 * the harness's request with a cached token. Under load the CPU per request follows these counts
 * (each object is the collector's work later: four async frames measured ~1 µs per request on
 * Bun), and unlike a timing they are the same on every run and machine — so
 * tests/bench/allocations.test.ts holds jwtgate's hot path to a budget with them.
 *
 *   node_modules/.bin/bun bench/micro/allocations.ts
 */
import { heapStats } from 'bun:jsc'
import { createGateway } from '../../src/core/gateway.ts'
import { binaryDeps, fixture, upstreamStub } from './fixtures.ts'
import { references } from './floors.ts'

/** The kinds of object the report shows, in this order; the rest are summed under `other`. */
export const KINDS = [
  'Object',
  'JSLexicalEnvironment',
  'Function',
  'Promise',
  'AsyncFunctionGenerator',
  'string',
  'Array',
] as const

/** Objects per request, by kind (JavaScriptCore's names), and `total`. */
export type Allocations = Readonly<Record<string, number>>

/**
 * The objects per request that `calls` requests made by `request` leave, measured after a warm-up
 * (the JIT's tiers and the caches settle) and a full collection, with the requests made before
 * and the responses kept: only what the handler allocates counts. A collection during the
 * measurement could only lower the counts.
 */
export async function allocations(
  fetch: (request: Request) => Promise<Response>,
  request: () => Request,
  calls = 200,
  warmup = 20_000,
): Promise<Allocations> {
  for (let i = 0; i < warmup; i++) await fetch(request())
  const requests = Array.from({ length: calls }, request)
  const responses: Response[] = []
  Bun.gc(true)
  const before = heapStats().objectTypeCounts
  for (const r of requests) responses.push(await fetch(r))
  const after = heapStats().objectTypeCounts
  if (responses.length !== calls) throw new Error('a response went missing')
  const out: Record<string, number> = {}
  let total = 0
  for (const [kind, count] of Object.entries(after)) {
    const per = (count - (before[kind] ?? 0)) / calls
    if (per <= 0) continue
    out[kind] = per
    total += per
  }
  out.total = total
  return out
}

/** A handler to count, with its row's label. */
export interface Row {
  readonly label: string
  readonly fetch: (request: Request) => Promise<Response>
}

/**
 * What the report counts: bun-floor's work and the minimal gateways (floors.ts), then jwtgate as
 * the binary runs its core (src/bun.ts's dependencies), all in front of the same stub upstream —
 * a sized response at once, as the harness's nginx sends — and the harness's request with a
 * cached token.
 */
export async function rows(): Promise<{ rows: Row[]; request: () => Request }> {
  const f = await fixture('HS256')
  const request = () =>
    new Request('http://127.0.0.1:18090/', {
      headers: { host: '127.0.0.1:18090', authorization: `Bearer ${f.token}` },
    })
  const gateway = createGateway(f.config, binaryDeps)
  const info = { clientAddress: '192.0.2.7', protocol: 'http' as const }
  return {
    rows: [
      ...references(upstreamStub, f.token),
      { label: 'jwtgate', fetch: (r: Request) => gateway.fetch(r, info) },
    ],
    request,
  }
}

if (import.meta.main) {
  const { rows: measured, request } = await rows()
  console.log(
    'Objects left on the heap per request (the harness’s request, a cached token):\n',
  )
  console.log(`| what runs | ${KINDS.join(' | ')} | other | total |`)
  console.log(`|---|${KINDS.map(() => '--:|').join('')}--:|--:|`)
  const cell = (n: number) => (Math.round(n * 10) / 10).toString()
  for (const row of measured) {
    const a = await allocations(row.fetch, request)
    const shown = KINDS.map((k) => a[k] ?? 0)
    const other = a.total! - shown.reduce((x, y) => x + y, 0)
    console.log(
      `| ${row.label} | ${shown.map(cell).join(' | ')} | ${cell(other)} | ${cell(a.total!)} |`,
    )
  }
}
