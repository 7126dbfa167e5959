/**
 * @module Claims: reading a claim by dot path (`realm_access.roles`,
 * `https://example.com/tenant`) and encoding a claim value as a header value — as text
 * (`encodeClaim`) or as JSON (`encodeClaimJson`, a claim header's `as: json`).
 */
import { TokenError } from '../errors.ts'

/** A verified JWT claims set. */
export type Claims = Readonly<Record<string, unknown>>

/** A claim path compiled once at start: the raw name and its dot-separated parts. */
export interface ClaimPath {
  /** The path as written (`realm_access.roles`). */
  readonly raw: string
  /** Its dot-separated parts (`['realm_access', 'roles']`). */
  readonly parts: readonly string[]
}

/**
 * `claims`, frozen all the way down: the verified claims are shared — the token cache hands the
 * same object to every request with that token, and `protect`/`createVerifier` hand it to the
 * application — so a handler adding a role to one request's copy must not grant it to the next.
 */
export function freezeClaims<T extends object>(claims: T): T {
  for (const value of Object.values(claims)) {
    if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) freezeClaims(value)
  }
  return Object.freeze(claims)
}

export function claimPath(raw: string): ClaimPath {
  return Object.freeze({ raw, parts: Object.freeze(raw.split('.')) })
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function own(obj: Record<string, unknown>, key: string): unknown {
  return Object.hasOwn(obj, key) ? obj[key] : undefined
}

/** Walks parts[from..] where a key may itself contain dots: the shortest key that exists wins. */
function walk(obj: Record<string, unknown>, parts: readonly string[], from: number): unknown {
  let key = ''
  for (let i = from; i < parts.length; i++) {
    key = i === from ? parts[i]! : `${key}.${parts[i]}`
    if (!Object.hasOwn(obj, key)) continue
    const value = obj[key]
    if (i === parts.length - 1) return value
    if (isRecord(value)) {
      const found = walk(value, parts, i + 1)
      if (found !== undefined) return found
    }
  }
  return undefined
}

/**
 * The claim at `path`: a top-level claim named exactly `path.raw` first (so URL-shaped names like
 * `https://example.com/tenant` work), else the nested value along the dots. Own properties only.
 */
export function readClaim(claims: Claims, path: ClaimPath): unknown {
  const direct = own(claims as Record<string, unknown>, path.raw)
  if (direct !== undefined || path.parts.length === 1) return direct
  return walk(claims as Record<string, unknown>, path.parts, 0)
}

/** True when the string holds a control character (C0, DEL, C1) that must never reach a header. */
export function hasControlChar(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i)
    if (c < 32 || (c >= 127 && c <= 159)) return true
  }
  return false
}

const utf8 = new TextEncoder()

/**
 * Header values are bytes: a value beyond ASCII is sent as its UTF-8 bytes (each byte one
 * character of the header string), which is what a backend reading UTF-8 expects.
 */
function headerBytes(text: string): string {
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) > 126) {
      // An unpaired surrogate would go as U+FFFD's bytes: "bob\ud800" and "bob\ufffd" alike.
      if (hasLoneSurrogate(text, i)) throw invalid('contains an unpaired surrogate')
      return String.fromCharCode(...utf8.encode(text))
    }
  }
  return text
}

/** True when `text` from `from` on has a surrogate that is not half of a pair. */
function hasLoneSurrogate(text: string, from: number): boolean {
  for (let i = from; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c < 0xd800 || c > 0xdfff) continue
    const next = text.charCodeAt(i + 1)
    if (c > 0xdbff || !(next >= 0xdc00 && next <= 0xdfff)) return true
    i++
  }
  return false
}

/** A claim forwarded as a header that no header value can carry exactly. */
function invalid(why: string): TokenError {
  return new TokenError('claim_invalid', `A claim forwarded as a header ${why}.`)
}

/** 32: space, 9: tab — trimmed from header values by every HTTP stack. */
const isBlank = (c: number) => c === 32 || c === 9

/** A scalar's text, refused where the header would carry another value than the token holds. */
function scalarText(value: string | number | boolean, inList: boolean): string {
  if (typeof value === 'boolean') return value ? 'true' : 'false'
  if (typeof value === 'number') {
    // The token's digits were rounded when parsed: 9007199254740993 would go as …992.
    if (isInexact(value)) throw invalid(INEXACT_NUMBER)
    return String(value)
  }
  if (
    value.length > 0 &&
    (isBlank(value.charCodeAt(0)) || isBlank(value.charCodeAt(value.length - 1)))
  ) {
    // Trimmed on the way (Headers, every server): " admin " would arrive as another user's "admin".
    throw invalid('starts or ends with whitespace, which a header value loses')
  }
  if (inList && value.includes(',')) {
    // ["users,admins"] would arrive as the two-item ["users", "admins"].
    throw invalid('is a list with an item holding a comma, which would read as two items')
  }
  return value
}

/**
 * Encodes a claim value for a header: strings as they are, numbers as decimal strings, booleans
 * `true`/`false`, arrays of scalars joined with `,`, objects and nested arrays as JSON. Returns
 * undefined for an absent (or null) claim or an empty array. A value the header would carry
 * otherwise than the token holds it is `claim_invalid`: control characters, an unpaired
 * surrogate, surrounding whitespace (trimmed on the way), an integer beyond 2^53, a list item
 * with a comma or null. One beyond ASCII goes as UTF-8 bytes.
 */
export function encodeClaim(value: unknown): string | undefined {
  let text: string
  if (value === undefined || value === null) return undefined
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
    text = scalarText(value, false)
  } else if (
    Array.isArray(value) && value.every((item) => item === null || typeof item !== 'object')
  ) {
    if (value.length === 0) return undefined
    const items: string[] = []
    for (const item of value) {
      if (typeof item !== 'string' && typeof item !== 'number' && typeof item !== 'boolean') {
        throw invalid('is a list with an item that is not a string, number or boolean')
      }
      items.push(scalarText(item, true))
    }
    text = items.join(',')
  } else {
    if (hasInexactNumber(value)) throw invalid(INEXACT_NUMBER)
    text = JSON.stringify(value)
  }
  if (hasControlChar(text)) throw invalid('contains control characters')
  return headerBytes(text)
}

/**
 * Encodes a claim value as JSON for a header (`as: json`): any string, list or object arrives
 * as the token holds it — commas, surrounding spaces and control characters included, which the
 * text form refuses — in printable ASCII (every character beyond it, DEL and lone surrogates
 * escaped `\uXXXX`). Returns undefined for an absent (or null) claim; an empty list is `[]`.
 * Refused (`claim_invalid`): a number anywhere in it that is not what the token's digits said
 * (an integer beyond 2^53, rounded when parsed; one out of a double's range, parsed as Infinity).
 */
export function encodeClaimJson(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined
  if (hasInexactNumber(value)) throw invalid(INEXACT_NUMBER)
  return JSON.stringify(value).replace(BEYOND_ASCII, escapeUnit)
}

const INEXACT_NUMBER =
  'is a number a JSON number does not hold exactly (an integer beyond 2^53, or out of range)'

/** DEL and every UTF-16 unit beyond ASCII: JSON.stringify escapes only C0 and lone surrogates. */
const BEYOND_ASCII = /[\u007f-\uffff]/g

function escapeUnit(c: string): string {
  return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`
}

/**
 * True when `number` is not what the token's digits said: an integer beyond 2^53 (rounded when
 * parsed), or one out of a double's range (`1e400` parses as Infinity, which JSON writes `null`).
 */
function isInexact(number: number): boolean {
  return !Number.isFinite(number) || (Number.isInteger(number) && !Number.isSafeInteger(number))
}

/** True when `value` holds, at any depth, a number a JSON number does not keep exactly. */
function hasInexactNumber(value: unknown): boolean {
  if (typeof value === 'number') return isInexact(value)
  if (typeof value !== 'object' || value === null) return false
  for (const item of Array.isArray(value) ? value : Object.values(value)) {
    if (hasInexactNumber(item)) return true
  }
  return false
}
