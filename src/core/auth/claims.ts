/**
 * @module Claims: reading a claim by dot path (`realm_access.roles`,
 * `https://example.com/tenant`) and encoding a claim value as a header value.
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
    if (text.charCodeAt(i) > 126) return String.fromCharCode(...utf8.encode(text))
  }
  return text
}

/**
 * Encodes a claim value for a header: strings as they are, numbers as decimal strings, booleans
 * `true`/`false`, arrays of scalars joined with `,`, objects and nested arrays as JSON. Returns
 * undefined for an absent (or null) claim. A value with control characters is `claim_invalid`;
 * one beyond ASCII goes as UTF-8 bytes.
 */
export function encodeClaim(value: unknown): string | undefined {
  let text: string
  if (value === undefined || value === null) return undefined
  if (typeof value === 'string') text = value
  else if (typeof value === 'number' || typeof value === 'boolean') text = String(value)
  else if (
    Array.isArray(value) && value.every((item) => item === null || typeof item !== 'object')
  ) {
    text = value.map((item) => String(item)).join(',')
  } else text = JSON.stringify(value)
  if (hasControlChar(text)) {
    throw new TokenError(
      'claim_invalid',
      'A claim forwarded as a header contains control characters.',
    )
  }
  return headerBytes(text)
}
