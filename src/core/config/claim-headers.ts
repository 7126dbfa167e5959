/**
 * @module Claim headers: which claims go upstream in which request headers, written how. One rule
 * for JWTGATE_FORWARD_CLAIMS and a route's `claimHeaders`: a header name, not a reserved one
 * (hop-by-hop, the gateway's own, Host, Authorization, Cookie, Content-*), none mapped twice; the
 * value as text (the default) or as JSON (`Header:json` in the variable, `{ header, as: json }`
 * in a file).
 */
import { claimPath } from '../auth/claims.ts'
import type { ConfigIssue } from '../errors.ts'
import { GATEWAY_HEADERS, HOP_BY_HOP } from '../proxy/headers.ts'
import { isToken } from '../syntax.ts'
import type { ClaimEncoding, ClaimHeader } from './types.ts'
import { parseList, shown } from './values.ts'

/** Headers a claim may never be forwarded as. */
const RESERVED_HEADERS = new Set([
  ...HOP_BY_HOP,
  ...GATEWAY_HEADERS,
  'host',
  'authorization',
  'cookie',
  'content-length',
  'content-type',
  'content-encoding',
  'expect',
])

/**
 * Why `header` cannot carry a claim — not a header name, reserved, or mapped already — or
 * undefined. `mapped` holds the lower-cased headers mapped so far; `header` is added to it.
 */
function claimHeaderProblem(header: string, mapped: Set<string>): string | undefined {
  const lower = header.toLowerCase()
  const problem = !isToken(header)
    ? `${shown(header)} is not a valid header name`
    : RESERVED_HEADERS.has(lower)
    ? `${header} is reserved and cannot carry a claim`
    : mapped.has(lower)
    ? `header ${header} is mapped twice`
    : undefined
  mapped.add(lower)
  return problem
}

function claimHeader(claim: string, header: string, as: ClaimEncoding): ClaimHeader {
  return Object.freeze({ claim: claimPath(claim), header: header.toLowerCase(), as })
}

/** The `:json` that asks for a JSON value (a header name cannot hold a colon). */
const JSON_SUFFIX = ':json'

/**
 * Parses JWTGATE_FORWARD_CLAIMS, `sub=X-User-Id,email=X-User-Email,groups=X-Groups:json`, or says
 * what is wrong.
 */
export function parseClaimHeaders(text: string): ClaimHeader[] | string {
  const out: ClaimHeader[] = []
  const mapped = new Set<string>()
  for (const item of parseList(text)) {
    const eq = item.lastIndexOf('=')
    if (eq <= 0 || eq === item.length - 1) {
      return `each item must be claim=Header-Name (got ${shown(item)})`
    }
    const claim = item.slice(0, eq).trim()
    const written = item.slice(eq + 1).trim()
    const json = written.toLowerCase().endsWith(JSON_SUFFIX)
    const header = json ? written.slice(0, -JSON_SUFFIX.length) : written
    const problem = claimHeaderProblem(header, mapped)
    if (problem !== undefined) return problem
    out.push(claimHeader(claim, header, json ? 'json' : 'text'))
  }
  return out.length > 0 ? out : 'expected at least one claim=Header-Name pair'
}

/** How a file names a claim header: its name, or `{ header, as }`. */
export type FileClaimHeader = string | { readonly header: string; readonly as?: ClaimEncoding }

/**
 * A route's `claimHeaders: { claim: Header }` (or `{ claim: { header: Header, as: json } }`); each
 * problem is at `<place>.claimHeaders.<claim>`.
 */
export function claimHeadersFromFile(
  map: Readonly<Record<string, FileClaimHeader>>,
  place: string,
  issues: ConfigIssue[],
): ClaimHeader[] {
  const mapped = new Set<string>()
  return Object.entries(map).map(([claim, written]) => {
    const header = typeof written === 'string' ? written : written.header
    const problem = claimHeaderProblem(header, mapped)
    if (problem !== undefined) {
      issues.push({ path: `${place}.claimHeaders.${claim}`, message: problem })
    }
    return claimHeader(claim, header, typeof written === 'string' ? 'text' : written.as ?? 'text')
  })
}
