/**
 * @module Token sources: where a request may carry its token (`header:Authorization`,
 * `header:X-Name`, `cookie:name`, `query:name`, and on a WebSocket upgrade `protocol:marker`). Each kind of source is one entry of SOURCE_KINDS:
 * how it is written in configuration, how its token is found, and how it is taken out of what goes
 * upstream. A new kind of source is a new entry there (and its name in TokenSource).
 */
import { isToken } from '../syntax.ts'
import { TokenError } from '../errors.ts'
import {
  decodeName,
  hasParameter,
  queryPairs,
  sameName,
  searchWithout,
} from '../routing/parameters.ts'

/** One place a token may be found, parsed from `JWTGATE_TOKEN_SOURCES`. */
export type TokenSource =
  | { readonly kind: 'authorization' }
  | { readonly kind: 'header'; readonly name: string }
  | { readonly kind: 'cookie'; readonly name: string }
  | { readonly kind: 'query'; readonly name: string }
  | { readonly kind: 'protocol'; readonly name: string }

/** A token and the source it came from. */
export interface FoundToken {
  readonly token: string
  readonly source: TokenSource
}

const MALFORMED = 'The token is malformed.'
const ONE_BEARER = 'The Authorization header must be exactly one "Bearer <token>".'
const BEARER_AFTER_COMMA = /,\s*bearer/i
const TWO_COPIES = 'The request carries the token twice.'
const EMPTY = 'The token is empty.'

/** One kind of token source: everything the gateway does with it. */
interface SourceKind<S extends TokenSource> {
  /** The prefix in configuration (`header:`, `cookie:`, `query:`). */
  readonly prefix: string
  /** The source for `name` (after the prefix), or undefined when this kind does not take it. */
  parse(name: string): S | undefined
  /** How the source is written in configuration, logs and `explain`. */
  describe(source: S): string
  /** The token this source carries in the request, or undefined; throws token_malformed. */
  find(headers: Headers, search: string, source: S): string | undefined
  /**
   * The header the token travels in, for the one pass that builds the upstream headers, and
   * whether a value of it is a token (Authorization: only a Bearer credential is).
   */
  readonly header?: (source: S) => TokenHeader
  /** Takes the token out of the upstream request's headers or query; returns the query. */
  readonly remove?: (headers: Headers, search: string, source: S) => string
}

/** A header that carries tokens (left out of the upstream request but for the forwarded copy). */
export interface TokenHeader {
  readonly source: TokenSource
  /** Lower-cased. */
  readonly name: string
  /** True when this value is a token (not, say, a Basic credential in Authorization). */
  readonly carries: (value: string) => boolean
}

/**
 * True when `value` starts with the scheme name `Bearer`, in any case (RFC 9110 §11.1), compared
 * by character codes: no string is made for a test every request with a token makes.
 */
function hasBearerScheme(value: string): boolean {
  return value.length >= 6 && (value.charCodeAt(0) | 32) === 98 &&
    (value.charCodeAt(1) | 32) === 101 && (value.charCodeAt(2) | 32) === 97 &&
    (value.charCodeAt(3) | 32) === 114 && (value.charCodeAt(4) | 32) === 101 &&
    (value.charCodeAt(5) | 32) === 114
}
/** `Bearer ` and what follows: a bearer credential. */
const isBearer = (value: string) => hasBearerScheme(value) && value.charCodeAt(6) === 32
/**
 * An Authorization value a backend may read as a bearer token: any value starting `Bearer`,
 * whatever follows (a tab, a no-break space, none — `find` refuses those, but on a public route
 * it does not run, and many backends split on any white space), or a Bearer credential after a
 * comma (two Authorization headers, joined). Such a value never goes upstream unverified.
 */
const carriesBearer = (value: string) =>
  hasBearerScheme(value) || (value.indexOf(',') >= 0 && BEARER_AFTER_COMMA.test(value))
const always = () => true
const QUERY_NAME = /^[A-Za-z0-9._~-]+$/
const NO_TOKEN_AFTER = 'The token must follow its marker in Sec-WebSocket-Protocol.'

type Of<K extends TokenSource['kind']> = Extract<TokenSource, { kind: K }>

const SOURCE_KINDS: { readonly [K in TokenSource['kind']]: SourceKind<Of<K>> } = {
  authorization: {
    prefix: 'header',
    parse: (
      name,
    ) => (name.toLowerCase() === 'authorization' ? { kind: 'authorization' } : undefined),
    describe: () => 'header:Authorization',
    find(headers) {
      const value = headers.get('authorization')
      if (value === null) return undefined
      // Another scheme (Basic, Digest …) is no token. But a Bearer credential anywhere — also in
      // a second Authorization header, which arrives joined with ", " — must be exactly
      // `Bearer <token>` (RFC 6750 §2.1: scheme case-insensitive, one space).
      if (!hasBearerScheme(value)) {
        if (value.indexOf(',') >= 0 && BEARER_AFTER_COMMA.test(value)) {
          throw new TokenError('token_malformed', ONE_BEARER)
        }
        return undefined
      }
      if (value.charCodeAt(6) !== 32 || value.indexOf(',') >= 0) {
        throw new TokenError('token_malformed', ONE_BEARER)
      }
      if (value.trim().length === 6) {
        throw new TokenError('token_malformed', 'The Bearer token is empty.')
      }
      return value.slice(7)
    },
    header: (source) => ({ source, name: 'authorization', carries: carriesBearer }),
  },
  header: {
    prefix: 'header',
    // Not `Cookie`: a cookie login is `cookie:name`, which the cross-site rules know (origin.ts).
    parse: (name) =>
      isToken(name) && name.toLowerCase() !== 'cookie'
        ? { kind: 'header', name: name.toLowerCase() }
        : undefined,
    describe: (source) => `header:${source.name}`,
    find(headers, _search, source) {
      const value = headers.get(source.name)
      if (value === null) return undefined
      const token = value.length > 7 && isBearer(value) ? value.slice(7) : value
      if (token.trim() === '') throw new TokenError('token_malformed', EMPTY)
      return token
    },
    header: (source) => ({ source, name: source.name, carries: always }),
  },
  cookie: {
    prefix: 'cookie',
    parse: (name) => (isToken(name) ? { kind: 'cookie', name } : undefined),
    describe: (source) => `cookie:${source.name}`,
    find(headers, _search, source) {
      const header = headers.get('cookie')
      const value = header === null ? undefined : readCookie(header, source.name)
      if (value === '') throw new TokenError('token_malformed', EMPTY)
      return value
    },
    remove(headers, search, source) {
      const cookie = headers.get('cookie')
      if (cookie === null) return search
      const rest = removeCookie(cookie, source.name)
      if (rest === undefined) headers.delete('cookie')
      else headers.set('cookie', rest)
      return search
    },
  },
  query: {
    prefix: 'query',
    parse: (name) => (QUERY_NAME.test(name) ? { kind: 'query', name } : undefined),
    describe: (source) => `query:${source.name}`,
    find(_headers, search, source) {
      if (search === '') return undefined
      let found: string | undefined
      // Every spelling a backend reads as this name is a copy (sameName), also after a `;`
      // (queryPairs).
      for (const pair of queryPairs(search)) {
        const eq = pair.indexOf('=')
        if (!sameName(decodeName(eq < 0 ? pair : pair.slice(0, eq)), source.name)) continue
        if (found !== undefined) throw new TokenError('token_malformed', TWO_COPIES)
        found = eq < 0 ? '' : decodeName(pair.slice(eq + 1))
      }
      if (found === '') throw new TokenError('token_malformed', EMPTY)
      return found
    },
    remove: (
      _headers,
      search,
      source,
    ) => (search === '' ? search : searchWithout(search, source.name)),
  },
  // Browsers cannot set headers on a WebSocket, but they send the subprotocols they are given:
  // `new WebSocket(url, ['bearer', token])`. Only on an upgrade; the pair never goes upstream
  // (websocket/handshake.ts offers the upstream the other protocols).
  protocol: {
    prefix: 'protocol',
    parse: (name) => (isToken(name) ? { kind: 'protocol', name } : undefined),
    describe: (source) => `protocol:${source.name}`,
    find(headers, _search, source) {
      const value = headers.get('sec-websocket-protocol')
      if (value === null || !isWebSocketUpgrade(headers)) return undefined
      const offered = splitProtocols(value)
      const at = offered.indexOf(source.name)
      if (at < 0) return undefined
      if (offered.indexOf(source.name, at + 1) >= 0) {
        throw new TokenError('token_malformed', TWO_COPIES)
      }
      const token = offered[at + 1]
      if (token === undefined || token === '') {
        throw new TokenError('token_malformed', NO_TOKEN_AFTER)
      }
      return token
    },
    // The header never goes upstream as the client sent it: an upgrade's upstream handshake
    // offers its own list, and on any other request the header means nothing but may carry a
    // token.
    header: (source) => ({ source, name: 'sec-websocket-protocol', carries: always }),
  },
}

/** True when `headers` ask for a WebSocket (`Upgrade: websocket`, RFC 6455 §4.2.1). */
export function isWebSocketUpgrade(headers: Headers): boolean {
  const upgrade = headers.get('upgrade')
  return upgrade !== null && upgrade.toLowerCase() === 'websocket'
}

/** The subprotocols of a `Sec-WebSocket-Protocol` value, in order (RFC 6455 §4.1, §11.3.4). */
export function splitProtocols(value: string): string[] {
  const out: string[] = []
  for (const part of value.split(',')) {
    const p = part.trim()
    if (p !== '') out.push(p)
  }
  return out
}

const KIND_ORDER = Object.keys(SOURCE_KINDS) as TokenSource['kind'][]

/** The entry of `source`'s kind (typed loosely: each entry only ever sees its own kind). */
function kindOf(source: TokenSource): SourceKind<TokenSource> {
  return SOURCE_KINDS[source.kind] as SourceKind<TokenSource>
}

/** Parses `header:Authorization`, `header:X-Name`, `cookie:name`, `query:name` or `protocol:marker`. */
export function parseTokenSource(spec: string): TokenSource | undefined {
  const colon = spec.indexOf(':')
  if (colon < 0) return undefined
  const prefix = spec.slice(0, colon).trim().toLowerCase()
  const name = spec.slice(colon + 1).trim()
  if (name === '') return undefined
  for (const kind of KIND_ORDER) {
    const entry = SOURCE_KINDS[kind] as SourceKind<TokenSource>
    if (entry.prefix !== prefix) continue
    const source = entry.parse(name)
    if (source !== undefined) return source
  }
  return undefined
}

/** The forms `parseTokenSource` reads, for messages. */
export const TOKEN_SOURCE_FORMS =
  'header:Authorization, header:X-Name (not Cookie), cookie:name, query:name or protocol:marker'

/** True when `a` and `b` name the same place (sources of different providers are different objects). */
export function sameSource(a: TokenSource, b: TokenSource | undefined): boolean {
  return b !== undefined && a.kind === b.kind &&
    (a as { name?: string }).name === (b as { name?: string }).name
}

/** How a source is written in configuration and logs. */
export function describeTokenSource(source: TokenSource): string {
  return kindOf(source).describe(source)
}

/** The header `source`'s tokens travel in, or undefined (cookies, query parameters). */
export function tokenHeader(source: TokenSource): TokenHeader | undefined {
  return kindOf(source).header?.(source)
}

/** The source a Referer is counted as: none a request's token can be kept from. */
const REFERER: TokenSource = Object.freeze({ kind: 'header', name: 'referer' })

/**
 * With query token sources, `Referer` carries tokens too: a page opened with `?access_token=…`
 * names its URL in the Referer of every request it then makes to the same origin — which the
 * gateway would hand the upstream, token and all. A Referer whose query holds a token parameter
 * (in any spelling, sameName) never goes upstream; undefined without query sources.
 */
export function refererHeader(sources: readonly TokenSource[]): TokenHeader | undefined {
  const names = sources.flatMap((s) => (s.kind === 'query' ? [s.name] : []))
  if (names.length === 0) return undefined
  return {
    source: REFERER,
    name: 'referer',
    carries(value) {
      const at = value.indexOf('?')
      if (at < 0) return false
      const end = value.indexOf('#', at)
      const search = end < 0 ? value.slice(at) : value.slice(at, end)
      return names.some((name) => hasParameter(search, name))
    },
  }
}

/**
 * Takes `source`'s token out of the upstream request where the header pass cannot (a cookie, a
 * query parameter); returns the query. Header sources are left out by that pass (tokenHeader).
 */
export function removeToken(headers: Headers, search: string, source: TokenSource): string {
  const remove = kindOf(source).remove
  return remove === undefined ? search : remove(headers, search, source)
}

/** True when removeToken() has something to do for `source` (it does not travel in a header). */
export function removedAfterHeaders(source: TokenSource): boolean {
  return kindOf(source).remove !== undefined
}

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

/**
 * Throws `token_malformed` unless the token has the compact JWS shape. Run before any decoding;
 * a token the verified-token cache knows has passed it already.
 */
export function checkTokenShape(token: string): void {
  if (!isCompactJws(token)) throw new TokenError('token_malformed', MALFORMED)
}

/**
 * The cookie pairs of a Cookie header: split at `;` (RFC 6265 §4.2) and at `,` too (Rack 2
 * splits there; a cookie value never holds one, RFC 6265 §4.1.1).
 */
function cookiePairs(header: string): string[] {
  return header.indexOf(',') < 0 ? header.split(';') : header.split(/[;,]/)
}

/** True when `pair` (`name=value`) is cookie `name` in any spelling a backend reads as it. */
function isCookie(pair: string, name: string): boolean {
  const eq = pair.indexOf('=')
  return eq >= 0 && sameName(pair.slice(0, eq), name)
}

/**
 * Value of cookie `name` in a Cookie header (RFC 6265 §4.2), or undefined. Two cookies a backend
 * may read as that name (sameName) are ambiguous: `token_malformed`.
 */
export function readCookie(header: string, name: string): string | undefined {
  let found: string | undefined
  for (const pair of cookiePairs(header)) {
    if (!isCookie(pair, name)) continue
    if (found !== undefined) throw new TokenError('token_malformed', TWO_COPIES)
    const value = pair.slice(pair.indexOf('=') + 1).trim()
    found = value.length >= 2 && value.startsWith('"') && value.endsWith('"')
      ? value.slice(1, -1)
      : value
  }
  return found
}

/**
 * The Cookie header without cookie `name` in any spelling a backend reads as it, or undefined
 * when nothing is left. The other cookies keep their bytes (a `,` inside a pair too).
 */
export function removeCookie(header: string, name: string): string | undefined {
  const kept: string[] = []
  for (const pair of header.split(';')) {
    const rest = pair.split(',').filter((part) => !isCookie(part, name)).join(',').trim()
    if (rest !== '') kept.push(rest)
  }
  return kept.length > 0 ? kept.join('; ') : undefined
}

/**
 * Finds the token in the first source, in the configured order, that carries one. An
 * Authorization header with another scheme (Basic …) counts as no token; an empty or too long
 * token, or two copies of it in one source, is `token_malformed` (its shape is checked by
 * checkTokenShape). Returns undefined when no source has a token.
 */
export function extractToken(
  headers: Headers,
  search: string,
  sources: readonly TokenSource[],
  maxBytes: number,
): FoundToken | undefined {
  for (const source of sources) {
    const token = kindOf(source).find(headers, search, source)
    if (token === undefined) continue
    if (token.length > maxBytes) throw new TokenError('token_malformed', 'The token is too long.')
    return { token, source }
  }
  return undefined
}
