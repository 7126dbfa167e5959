/**
 * @module Token extraction: where a request may carry its token (`header:Authorization`,
 * `header:X-Name`, `cookie:name`, `query:name`) and how to find, and later remove, it.
 */
import { isToken } from '../syntax.ts'
import { TokenError } from '../errors.ts'

/** One place a token may be found, parsed from `JWTGATE_TOKEN_SOURCES`. */
export type TokenSource =
  | { readonly kind: 'authorization' }
  | { readonly kind: 'header'; readonly name: string }
  | { readonly kind: 'cookie'; readonly name: string }
  | { readonly kind: 'query'; readonly name: string }

/** A token and the source it came from. */
export interface FoundToken {
  readonly token: string
  readonly source: TokenSource
}

/** Parses `header:Authorization`, `header:X-Name`, `cookie:name` or `query:name`. */
export function parseTokenSource(spec: string): TokenSource | undefined {
  const colon = spec.indexOf(':')
  if (colon < 0) return undefined
  const kind = spec.slice(0, colon).trim().toLowerCase()
  const name = spec.slice(colon + 1).trim()
  if (name === '') return undefined
  if (kind === 'header') {
    if (!isToken(name)) return undefined
    const lower = name.toLowerCase()
    return lower === 'authorization' ? { kind: 'authorization' } : { kind: 'header', name: lower }
  }
  if (kind === 'cookie') return isToken(name) ? { kind: 'cookie', name } : undefined
  if (kind === 'query') return /^[A-Za-z0-9._~-]+$/.test(name) ? { kind: 'query', name } : undefined
  return undefined
}

/** True when `a` and `b` name the same place (sources of different providers are different objects). */
export function sameSource(a: TokenSource, b: TokenSource | undefined): boolean {
  return b !== undefined && a.kind === b.kind &&
    (a.kind === 'authorization' || a.name === (b as { name: string }).name)
}

/** How a source is written in configuration and logs. */
export function describeTokenSource(source: TokenSource): string {
  return source.kind === 'authorization' ? 'header:Authorization' : `${source.kind}:${source.name}`
}

const MALFORMED = 'The token is malformed.'
const ONE_BEARER = 'The Authorization header must be exactly one "Bearer <token>".'
const BEARER_AFTER_COMMA = /,\s*bearer/i
const TWO_COPIES = 'The request carries the token twice.'

/**
 * True when `token` has the compact JWS shape: exactly three non-empty base64url segments (a
 * stripped signature fails here). Checked before any decoding.
 */
export function isCompactJws(token: string): boolean {
  let dots = 0
  let segmentStart = 0
  for (let i = 0; i < token.length; i++) {
    const c = token.charCodeAt(i)
    if (c === 46 /* . */) {
      if (i === segmentStart) return false
      dots++
      segmentStart = i + 1
      continue
    }
    const ok = (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45 ||
      c === 95
    if (!ok) return false
  }
  return dots === 2 && segmentStart < token.length
}

function checked(token: string, source: TokenSource, maxBytes: number): FoundToken {
  if (token.length > maxBytes) throw new TokenError('token_malformed', 'The token is too long.')
  return { token, source }
}

/**
 * Throws `token_malformed` unless the token has the compact JWS shape. Run before any decoding;
 * a token the verified-token cache knows has passed it already.
 */
export function checkTokenShape(token: string): void {
  if (!isCompactJws(token)) throw new TokenError('token_malformed', MALFORMED)
}

/**
 * Value of cookie `name` in a Cookie header (RFC 6265 §4.2), or undefined. Two cookies of that
 * name are ambiguous (a backend may read either): `token_malformed`.
 */
export function readCookie(header: string, name: string): string | undefined {
  let found: string | undefined
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=')
    if (eq < 0 || pair.slice(0, eq).trim() !== name) continue
    if (found !== undefined) throw new TokenError('token_malformed', TWO_COPIES)
    const value = pair.slice(eq + 1).trim()
    found = value.length >= 2 && value.startsWith('"') && value.endsWith('"')
      ? value.slice(1, -1)
      : value
  }
  return found
}

/** The Cookie header without cookie `name`, or undefined when nothing is left. */
export function removeCookie(header: string, name: string): string | undefined {
  const kept = header
    .split(';')
    .filter((pair) => {
      const eq = pair.indexOf('=')
      return pair.trim() !== '' && (eq < 0 || pair.slice(0, eq).trim() !== name)
    })
    .map((pair) => pair.trim())
  return kept.length > 0 ? kept.join('; ') : undefined
}

/**
 * Finds the token in the first source, in the configured order, that carries one. An
 * Authorization header with another scheme (Basic …) counts as no token; an empty or too long
 * Bearer credential is `token_malformed` (its shape is checked by checkTokenShape). Returns
 * undefined when no source has a token.
 */
export function extractToken(
  headers: Headers,
  search: string,
  sources: readonly TokenSource[],
  maxBytes: number,
): FoundToken | undefined {
  for (const source of sources) {
    switch (source.kind) {
      case 'authorization': {
        const value = headers.get('authorization')
        if (value === null) break
        // Another scheme (Basic, Digest …) is no token. But a Bearer credential anywhere — also in
        // a second Authorization header, which arrives joined with ", " — must be exactly
        // `Bearer <token>` (RFC 6750 §2.1: scheme case-insensitive, one space).
        if (value.slice(0, 6).toLowerCase() !== 'bearer') {
          if (value.indexOf(',') >= 0 && BEARER_AFTER_COMMA.test(value)) {
            throw new TokenError('token_malformed', ONE_BEARER)
          }
          break
        }
        if (value.charCodeAt(6) !== 32 || value.indexOf(',') >= 0) {
          throw new TokenError('token_malformed', ONE_BEARER)
        }
        if (value.trim().length === 6) {
          throw new TokenError('token_malformed', 'The Bearer token is empty.')
        }
        return checked(value.slice(7), source, maxBytes)
      }
      case 'header': {
        const value = headers.get(source.name)
        if (value === null) break
        const token = value.length > 7 && value.slice(0, 7).toLowerCase() === 'bearer '
          ? value.slice(7)
          : value
        if (token.trim() === '') throw new TokenError('token_malformed', 'The token is empty.')
        return checked(token, source, maxBytes)
      }
      case 'cookie': {
        const header = headers.get('cookie')
        const value = header === null ? undefined : readCookie(header, source.name)
        if (value === undefined) break
        if (value === '') throw new TokenError('token_malformed', 'The token is empty.')
        return checked(value, source, maxBytes)
      }
      case 'query': {
        if (search === '') break
        const values = new URLSearchParams(search).getAll(source.name)
        if (values.length === 0) break
        if (values.length > 1) throw new TokenError('token_malformed', TWO_COPIES)
        const value = values[0]!
        if (value === '') throw new TokenError('token_malformed', 'The token is empty.')
        return checked(value, source, maxBytes)
      }
    }
  }
  return undefined
}
