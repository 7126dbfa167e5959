/**
 * @module A revocation: what it covers, and until when it must be kept. One JSON object per
 * entry, the same in a revocations file (one per line), in Redis, in `POST /revocations` and from
 * `jwtgate revoke`. Times are seconds since the epoch, as in a JWT.
 *
 * - `{ "jti": "…", "iss"?: "…", "exp"?: … }`: one token, by its `jti` (and issuer, if given).
 * - `{ "token_sha256": "…", "exp"?: … }`: one token, by the SHA-256 (base64url) of its signed
 *   part, `header.payload` (`tokenHash`): `jwtgate revoke --token` computes it, so the token
 *   itself is never stored. Not of the whole compact form: a signature has other spellings that
 *   verify as well (the unused bits of its last base64url character; ECDSA's (r, n − s)), which
 *   the token's holder can write. An entry from before 0.7.0, a hash of the compact form, still
 *   revokes that exact spelling (`tokenHashes`).
 * - `{ "sub": "…", "iss"?: "…", "before"?: … }`: every token of a subject issued before a time
 *   (its `iat`; a token without `iat` counts as issued before).
 * - `{ "issuer": "…", "before"?: … }`: everything an issuer issued before a time.
 *
 * `before` defaults to the second after now (tokens issued in this very second are covered); a
 * new revocation's to that plus the providers' largest clock skew (parseNewRevocation).
 * Every entry has an `until`: when the tokens it covers have expired and it may be forgotten — a
 * token's `exp`, or `before` plus the longest token lifetime the gateway is told of
 * (`revocations.maxTokenLifetime`), plus the largest clock skew a provider may allow. A `jti` or
 * hash revocation without `exp` is kept from now plus that lifetime plus twice that skew: the
 * token may say it was issued up to one skew ahead of now, and is taken (check.ts) until its `iat`
 * plus the lifetime plus the skew again.
 */

/** The clock skew every `until` is kept beyond (a provider's skew is at most an hour). */
export const UNTIL_MARGIN_SEC = 3600

/** A revocation entry, parsed. */
export type Revocation =
  | {
    readonly kind: 'jti'
    readonly jti: string
    readonly iss: string | undefined
    readonly until: number
  }
  | { readonly kind: 'token'; readonly hash: string; readonly until: number }
  | {
    readonly kind: 'sub'
    readonly sub: string
    readonly iss: string | undefined
    readonly before: number
    readonly until: number
  }
  | {
    readonly kind: 'issuer'
    readonly iss: string
    readonly before: number
    readonly until: number
  }

/** The longest text of one field (an identifier, not a document). */
const MAX_FIELD = 1024

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v)

function text(o: Record<string, unknown>, name: string): string | undefined | Error {
  const value = o[name]
  if (value === undefined) return undefined
  if (typeof value !== 'string' || value === '' || value.length > MAX_FIELD) {
    return new Error(`"${name}" must be a non-empty string of at most ${MAX_FIELD} characters`)
  }
  return value
}

function seconds(o: Record<string, unknown>, name: string): number | undefined | Error {
  const value = o[name]
  if (value === undefined) return undefined
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 1e11) {
    return new Error(`"${name}" must be a time in whole seconds since the epoch`)
  }
  return value
}

const KEYS = new Set(['jti', 'iss', 'exp', 'token_sha256', 'sub', 'issuer', 'before', 'until'])

/**
 * An entry from its JSON value; a string saying what is wrong otherwise. `now` (seconds) and
 * `maxLifetimeSec` fill in `before` and `until` when the entry does not give them.
 *
 * @example
 * import { parseRevocation } from 'jwtgate'
 * const entry = parseRevocation({ sub: 'alice' }, Math.floor(Date.now() / 1000), 86_400)
 * if (typeof entry === 'string') throw new Error(entry) // what is wrong with it
 */
export function parseRevocation(
  value: unknown,
  now: number,
  maxLifetimeSec: number,
): Revocation | string {
  if (!isRecord(value)) return 'a revocation is a JSON object'
  const unknown = Object.keys(value).find((k) => !KEYS.has(k))
  if (unknown !== undefined) return `unknown field "${unknown}"`
  const kinds = ['jti', 'token_sha256', 'sub', 'issuer'].filter((k) => value[k] !== undefined)
  if (kinds.length !== 1) return 'give exactly one of "jti", "token_sha256", "sub", "issuer"'
  const fields = {
    jti: text(value, 'jti'),
    iss: text(value, 'iss'),
    hash: text(value, 'token_sha256'),
    sub: text(value, 'sub'),
    issuer: text(value, 'issuer'),
    exp: seconds(value, 'exp'),
    before: seconds(value, 'before'),
    until: seconds(value, 'until'),
  }
  for (const f of Object.values(fields)) if (f instanceof Error) return f.message
  const { jti, iss, hash, sub, issuer, exp, before, until } = fields as {
    [K in keyof typeof fields]: Exclude<(typeof fields)[K], Error>
  }
  const kind = kinds[0]!
  if (kind === 'token_sha256' && !/^[A-Za-z0-9_-]{43}$/.test(hash!)) {
    return '"token_sha256" must be a SHA-256 in base64url (43 characters)'
  }
  if ((kind === 'jti' || kind === 'token_sha256') && value.before !== undefined) {
    return '"before" applies to "sub" and "issuer" revocations'
  }
  if ((kind === 'sub' || kind === 'issuer') && value.exp !== undefined) {
    return '"exp" applies to "jti" and "token_sha256" revocations (use "until")'
  }
  if (kind === 'issuer' && value.iss !== undefined) return '"issuer" names the issuer; drop "iss"'
  if (kind === 'token_sha256' && value.iss !== undefined) {
    return '"iss" does not apply to "token_sha256"'
  }
  if (kind === 'jti' || kind === 'token_sha256') {
    const end = until ??
      (exp === undefined ? now + maxLifetimeSec + 2 * UNTIL_MARGIN_SEC : exp + UNTIL_MARGIN_SEC)
    return kind === 'jti'
      ? { kind: 'jti', jti: jti!, iss, until: end }
      : { kind: 'token', hash: hash!, until: end }
  }
  const from = before ?? now + 1
  const end = until ?? from + maxLifetimeSec + UNTIL_MARGIN_SEC
  return kind === 'sub'
    ? { kind: 'sub', sub: sub!, iss, before: from, until: end }
    : { kind: 'issuer', iss: issuer!, before: from, until: end }
}

/**
 * A new revocation (POST /revocations, `jwtgate revoke`): parseRevocation's, also refused when it
 * would revoke nothing — over already (`until`, or `exp` and its margin, not after now). Entries
 * read from a store are parsed with parseRevocation: expired ones are skipped there.
 */
export function parseNewRevocation(
  value: unknown,
  nowSec: number,
  maxLifetimeSec: number,
  beforeMarginSec = 0,
): Revocation | string {
  // A subject or issuer revocation without `before` covers what verification accepts as issued
  // by now: an `iat` up to the clock skew ahead (an issuer whose clock runs ahead). Without the
  // margin, such a token escaped the revocation for its whole life.
  const dated = isRecord(value) && value.before === undefined &&
      (value.sub !== undefined || value.issuer !== undefined) && beforeMarginSec > 0
    ? { ...value, before: nowSec + 1 + beforeMarginSec }
    : value
  const entry = parseRevocation(dated, nowSec, maxLifetimeSec)
  if (typeof entry === 'string' || entry.until > nowSec) return entry
  return `the revocation would be over already: it ends at ${entry.until} ("until", or "exp" plus ${UNTIL_MARGIN_SEC} s), not after now (${nowSec})`
}

/**
 * The JSON object of an entry, with every field explicit (what is stored and published).
 *
 * @example
 * import { revocationJson } from 'jwtgate'
 * revocationJson({ kind: 'jti', jti: 'j1', iss: undefined, until: 1767229200 }) // { jti: 'j1', until: 1767229200 }
 */
export function revocationJson(entry: Revocation): Record<string, string | number> {
  switch (entry.kind) {
    case 'jti':
      return {
        jti: entry.jti,
        ...(entry.iss === undefined ? {} : { iss: entry.iss }),
        until: entry.until,
      }
    case 'token':
      return { token_sha256: entry.hash, until: entry.until }
    case 'sub':
      return {
        sub: entry.sub,
        ...(entry.iss === undefined ? {} : { iss: entry.iss }),
        before: entry.before,
        until: entry.until,
      }
    case 'issuer':
      return { issuer: entry.iss, before: entry.before, until: entry.until }
  }
}

/**
 * The `token_sha256` of a revocation: SHA-256 of the token's signed part (`header.payload`, what
 * its signature covers), base64url. Every spelling of the token's signature — which its holder
 * can rewrite without the key — has the same one.
 *
 * @example
 * import { tokenHash } from 'jwtgate'
 * const revocation = { token_sha256: await tokenHash(stolenToken) }
 */
export function tokenHash(token: string): Promise<string> {
  const end = token.lastIndexOf('.')
  return sha256(end < 0 ? token : token.slice(0, end))
}

/**
 * The values of `token_sha256` that revoke a verified token: its `tokenHash`, and the hash of its
 * whole compact form, which entries made before 0.7.0 hold (they revoke that spelling only).
 */
export type TokenHashes = readonly [signed: string, compact: string]

/**
 * A token's TokenHashes.
 *
 * @example
 * import { RevocationList, tokenHashes } from 'jwtgate'
 * const revokedBy = list.revoked(claims, await tokenHashes(token))
 */
export async function tokenHashes(token: string): Promise<TokenHashes> {
  return [await tokenHash(token), await sha256(token)]
}

async function sha256(text: string): Promise<string> {
  const digest = new Uint8Array(
    await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)),
  )
  let binary = ''
  for (const byte of digest) binary += String.fromCharCode(byte)
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
}
