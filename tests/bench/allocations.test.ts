/**
 * The hot path's budget (README, Architecture) held by what it allocates, not by a timing: a
 * proxied request with a cached token runs through one async frame (the gateway's `handle`),
 * creates no closure, and leaves no more objects than below — counts that stay the same however
 * loaded the machine is (bench/micro/allocations.ts). Each bound is today's count with a little
 * room; an await added per step, a closure on the common path or a record more per request
 * shows here before any benchmark could see it. The upstream is a stub: a real fetch's own
 * objects would blur the count of ours.
 */
import assert from 'node:assert/strict'
import { allocations, rows } from '../../bench/micro/allocations.ts'
import { test } from '../helpers/t.ts'

/** Per request, at most (0.9.0's path had 4 async frames, 4 closures, 5 promises, 11 scopes). */
const BUDGET: Readonly<Record<string, number>> = {
  AsyncFunctionGenerator: 1,
  Function: 1,
  Promise: 2,
  JSLexicalEnvironment: 5,
  total: 44,
}

test('a proxied request with a cached token stays within its allocation budget: one async frame, no closure', async () => {
  const { rows: measured, request } = await rows()
  const jwtgate = measured.find((r) => r.label === 'jwtgate')!
  const floor = measured[0]!
  const ours = await allocations(jwtgate.fetch, request)
  // The measurement itself must see objects: bun-floor's work makes a promise and a closure.
  const theirs = await allocations(floor.fetch, request, 200, 2_000)
  assert.ok(
    (theirs.Promise ?? 0) >= 1 && (theirs.Function ?? 0) >= 1,
    JSON.stringify(theirs),
  )
  const over = Object.entries(BUDGET)
    .filter(([kind, most]) => (ours[kind] ?? 0) > most)
    .map(([kind, most]) => `${kind} ${ours[kind]} > ${most}`)
  assert.deepEqual(over, [], `over budget: ${JSON.stringify(ours)}`)
})
