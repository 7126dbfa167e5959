/**
 * @module The route's claim headers for one decision: each configured claim encoded as a header
 * value (claims.ts), once per cached token and route (kept on the token's cache entry).
 */
import { encodeClaim, encodeClaimJson, readClaim } from '../auth/claims.ts'
import type { Decision } from '../decide.ts'

type HeaderList = readonly (readonly [string, string])[]

const NO_HEADERS: HeaderList = []

/** The headers to append upstream; none for an anonymous decision or a route without any. */
export function claimHeaders(decision: Decision): HeaderList {
  const route = decision.route.route
  if (decision.claims === undefined || route.claimHeaders.length === 0) return NO_HEADERS
  const known = decision.cached?.headers.get(route.name)
  if (known !== undefined) return known
  const out: [string, string][] = []
  for (const { claim, header, as } of route.claimHeaders) {
    const found = readClaim(decision.claims, claim)
    const value = as === 'json' ? encodeClaimJson(found) : encodeClaim(found)
    if (value !== undefined) out.push([header, value])
  }
  decision.cached?.headers.set(route.name, out)
  return out
}
