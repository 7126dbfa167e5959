/**
 * @module Named rate limits (`rateLimits:` in the configuration file): which apply to a request,
 * which bucket of each it counts in, and the `RateLimit-Policy` / `RateLimit` fields (IETF
 * draft-ietf-httpapi-ratelimit-headers) that tell the client. Several limits may apply to one
 * request; it passes only when every one has room, and then counts in each (all or none).
 *
 * A limit's key is the token's subject (`sub`: issuer and subject), a claim (`claim:tenant`,
 * `claim:client_id`), the client's address (`address`) or a request header (`header:X-Api-Key`).
 * A request that does not carry its key (no token, no such claim or header) counts in a bucket
 * of its client address under that limit: leaving the key out never escapes the limit.
 */
import { type ClaimPath, claimPath, type Claims, readClaim } from '../auth/claims.ts'
import { LimitError } from '../errors.ts'
import type { RateLimit } from '../rate-limit.ts'
import {
  type Bucket,
  bucketOf,
  type LimitCheck,
  remainingOf,
  type TakeResult,
  waitOf,
} from './gcra.ts'
import type { LimitStore } from './store.ts'
import { clientBucket } from './client.ts'

/** What a limit counts requests by. */
export type LimitKey =
  | { readonly kind: 'sub' }
  | { readonly kind: 'address' }
  | { readonly kind: 'claim'; readonly claim: ClaimPath }
  | { readonly kind: 'header'; readonly header: string }

/** Parses `sub`, `address`, `claim:<path>` or `header:<name>`; undefined when it is none. */
export function parseLimitKey(text: string): LimitKey | undefined {
  if (text === 'sub') return { kind: 'sub' }
  if (text === 'address') return { kind: 'address' }
  const colon = text.indexOf(':')
  const kind = text.slice(0, colon)
  const rest = text.slice(colon + 1).trim()
  if (colon < 0 || rest === '') return undefined
  if (kind === 'claim') return { kind, claim: claimPath(rest) }
  if (kind === 'header' && /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(rest)) {
    return { kind, header: rest.toLowerCase() }
  }
  return undefined
}

/** A key as the configuration writes it. */
export function describeLimitKey(key: LimitKey): string {
  if (key.kind === 'claim') return `claim:${key.claim.raw}`
  if (key.kind === 'header') return `header:${key.header}`
  return key.kind
}

/** A named limit, as configured. */
export interface NamedLimit {
  /** Its name, in `RateLimit` fields, the 429's detail, logs (`limit`) and metrics. */
  readonly name: string
  /** `limit` requests per `periodMs`. */
  readonly rate: RateLimit
  /** Requests that may come at once on a full bucket (default: the rate's count). */
  readonly burst: number
  /** What requests are counted by. */
  readonly key: LimitKey
  /** The routes (by name) it applies to; undefined: every route. */
  readonly routes: readonly string[] | undefined
  /** Applies only to tokens these providers verified; undefined: every request. */
  readonly providers: readonly string[] | undefined
}

/** A named limit compiled for the request path. */
export interface ActiveLimit {
  readonly limit: NamedLimit
  readonly bucket: Bucket
  readonly providers: ReadonlySet<string> | undefined
  /** Its `RateLimit-Policy` item, made once. */
  readonly policy: string
  /** The start of its bucket keys in the store. */
  readonly prefix: string
}

/** The limits that apply on a route named `route`, compiled once (empty: none). */
export function activeLimits(limits: readonly NamedLimit[], route: string): ActiveLimit[] {
  return limits.filter((l) => l.routes === undefined || l.routes.includes(route)).map((limit) => ({
    limit,
    bucket: bucketOf(limit.rate.limit, limit.rate.periodMs, limit.burst),
    providers: limit.providers === undefined ? undefined : new Set(limit.providers),
    policy: `${sfString(limit.name)};${quotaAndWindow(limit.rate)}`,
    prefix: `${limit.name}:`,
  }))
}

/**
 * RateLimit-Policy's `q` and `w`: the window is whole seconds, so a period that is none
 * (`10/100ms`) is given as the window of whole seconds around it and the requests it allows
 * there, rounded down (`q=100;w=1`): never more than the limit.
 */
function quotaAndWindow(rate: { readonly limit: number; readonly periodMs: number }): string {
  if (rate.periodMs % 1000 === 0) return `q=${rate.limit};w=${rate.periodMs / 1000}`
  const w = Math.ceil(rate.periodMs / 1000)
  return `q=${Math.floor((rate.limit * w * 1000) / rate.periodMs)};w=${w}`
}

/** What a request brings for its limits' keys. */
export interface LimitSubject {
  readonly claims: Claims | undefined
  /** The provider that verified the token. */
  readonly provider: string | undefined
  readonly headers: Headers
  readonly client: string | undefined
}

/** The limits that passed, for the response's `RateLimit-Policy` and `RateLimit` fields. */
export interface Counted {
  readonly limits: readonly ActiveLimit[]
  readonly result: TakeResult
}

/**
 * Counts a request in every limit of `limits` that applies to it; throws LimitError (429, with
 * `Retry-After` and the fields of the limits that refused) when one has no room. Undefined when
 * none applies.
 */
export function countLimits(
  store: LimitStore,
  limits: readonly ActiveLimit[],
  subject: LimitSubject,
  now: number,
): Counted | undefined | Promise<Counted | undefined> {
  const applied: ActiveLimit[] = []
  const checks: LimitCheck[] = []
  for (const active of limits) {
    if (active.providers !== undefined) {
      if (subject.provider === undefined || !active.providers.has(subject.provider)) continue
    }
    applied.push(active)
    checks.push({ key: active.prefix + keyValue(active.limit.key, subject), bucket: active.bucket })
  }
  if (checks.length === 0) return undefined
  const result = store.take(checks, now)
  if (result instanceof Promise) return result.then((r) => judged(applied, r))
  return judged(applied, result)
}

function judged(limits: ActiveLimit[], result: TakeResult): Counted {
  if (result.allowed) return { limits, result }
  let wait = 0
  let refusing: ActiveLimit | undefined
  const policies: string[] = []
  const states: string[] = []
  for (let i = 0; i < limits.length; i++) {
    const active = limits[i]!
    const w = waitOf(result.ahead[i]!, active.bucket)
    if (w <= 0) continue
    if (w > wait) [wait, refusing] = [w, active]
    policies.push(active.policy)
    states.push(`${sfString(active.limit.name)};r=0;t=${Math.ceil(w / 1000)}`)
  }
  const name = refusing?.limit.name ?? limits[0]!.limit.name
  throw new LimitError(
    'rate_limited',
    `Too many requests (limit ${JSON.stringify(name)}); retry later.`,
    Math.max(1, Math.ceil(wait / 1000)),
    { limit: name, policy: policies.join(', '), state: states.join(', ') },
  )
}

/** Sets the `RateLimit-Policy` and `RateLimit` fields of the limits a request passed. */
export function setLimitFields(counted: Counted, headers: Headers): void {
  const policies: string[] = []
  const states: string[] = []
  for (let i = 0; i < counted.limits.length; i++) {
    const active = counted.limits[i]!
    const ahead = counted.result.ahead[i]!
    policies.push(active.policy)
    states.push(
      `${sfString(active.limit.name)};r=${remainingOf(ahead, active.bucket)};t=${
        Math.ceil(ahead / 1000)
      }`,
    )
  }
  headers.set('ratelimit-policy', policies.join(', '))
  headers.set('ratelimit', states.join(', '))
}

/** The key's value for a request; a missing one is the client's address, marked apart. */
function keyValue(key: LimitKey, subject: LimitSubject): string {
  let value: unknown
  if (key.kind === 'sub') {
    const c = subject.claims
    // JSON strings: self-delimiting, and a lone surrogate spelt out (see subjectKey).
    if (c !== undefined && typeof c.sub === 'string') {
      return `s:${JSON.stringify(typeof c.iss === 'string' ? c.iss : '')}${JSON.stringify(c.sub)}`
    }
  } else if (key.kind === 'claim') {
    if (subject.claims !== undefined) value = readClaim(subject.claims, key.claim)
    // A string quoted, a number not: the claim 5 and the claim "5" are two buckets.
    if (typeof value === 'string') return `c:${JSON.stringify(value)}`
    if (typeof value === 'number') return `c:${value}`
  } else if (key.kind === 'header') {
    value = subject.headers.get(key.header)
    // A header is often a credential (X-Api-Key): its bucket is named by a hash of it, so the
    // store (Redis key names, SCAN, MONITOR) never holds the value itself.
    if (value !== null) return `h:${hash64(value as string)}`
  }
  return `a:${clientBucket(subject.client)}`
}

/** An RFC 8941 sf-string (names are letters, digits, `_`, `.`, `-`: nothing to escape). */
function sfString(name: string): string {
  return `"${name}"`
}

/**
 * A 64-bit FNV-1a of `text` (two 32-bit lanes with different offsets), in hex: names a bucket
 * without holding its key's value. Not a secret-keyed hash: it hides a long random credential,
 * not a guessable one.
 */
function hash64(text: string): string {
  let a = 0x811c9dc5
  let b = 0x050c5d1f
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    a = Math.imul(a ^ c, 0x01000193)
    b = Math.imul(b ^ c, 0x01000193) ^ (a >>> 15)
  }
  return (a >>> 0).toString(16).padStart(8, '0') + (b >>> 0).toString(16).padStart(8, '0')
}
