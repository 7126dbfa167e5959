/**
 * @module Request-target normalisation: the one function that decides which path a request is
 * for. Every rule is evaluated on its result and the upstream receives exactly it, never the raw
 * form. RFC 3986 §6.2.2 (case and percent-encoding normalisation), §5.2.4 (dot segments).
 *
 * Runtimes differ in what reaches us: Bun resolves dot segments and turns `\` into `/` before
 * `request.url` exists; Deno hands over the raw request-target. Both are handled the same way here.
 */
import { BadRequestError } from '../errors.ts'

/** A normalised target: `path` starts with `/`; `search` is `''` or starts with `?`. */
export interface Target {
  readonly path: string
  readonly search: string
}

const HEX = '0123456789ABCDEF'

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48
  if (c >= 65 && c <= 70) return c - 55
  if (c >= 97 && c <= 102) return c - 87
  return -1
}

/** RFC 3986 §2.3 unreserved characters. */
function isUnreserved(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45 ||
    c === 46 || c === 95 || c === 126
}

function reject(detail: string): never {
  throw new BadRequestError('bad_path', detail)
}

/**
 * The raw path of `request.url`, without query or fragment (`rawTarget`'s reading): what a handler
 * routing on the URL itself sees, and what the admin listener matches exactly. Never throws,
 * unlike `new URL`, which refuses the relative URL Bun hands over for HTTP/1.0 without Host.
 */
export function rawPath(url: string): string {
  const target = rawTarget(url)
  const end = target.search(/[?#]/)
  return end < 0 ? target : target.slice(0, end)
}

/** A scheme and `//` at the very start (RFC 3986 §3.1): the url is absolute, its authority next. */
const ABSOLUTE = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//

/**
 * The path-and-query of `request.url`: absolute (`http://host/x`) only when it starts with a
 * scheme, else origin-form as it is. Bun hands over a relative `request.url` for HTTP/1.0 without
 * Host, so a `://` further on (`/api/x/http://h/public/x`) is part of the path, never a scheme.
 */
export function rawTarget(url: string): string {
  // The runtimes' usual forms first: no regex for them on every request.
  const from = url.startsWith('http://')
    ? 7
    : url.startsWith('https://')
    ? 8
    : ABSOLUTE.exec(url)?.[0].length
  if (from === undefined) {
    const slash = url.indexOf('/')
    return slash < 0 ? '/' : url.slice(slash)
  }
  // The authority ends at the first `/`, `?` or `#` (§3.2); a query right after it has path `/`.
  for (let i = from; i < url.length; i++) {
    const c = url.charCodeAt(i)
    if (c === 47 /* / */) return url.slice(i)
    if (c === 63 /* ? */ || c === 35 /* # */) return `/${url.slice(i)}`
  }
  return '/'
}

/**
 * The range of the first continuation byte after a UTF-8 lead byte, and how many follow in all
 * (Unicode Table 3-7, well-formed sequences): packed as `least << 16 | most << 8 | count`, 0 for
 * a byte that cannot lead. What is not well-formed is refused — an overlong form (`%C0%AE` is `.`
 * to a lenient decoder: `/public/%C0%AE%C0%AE/admin` would climb to `/admin` behind the rules'
 * backs), a surrogate, a value past U+10FFFF, a lone or missing continuation byte.
 */
function utf8Lead(byte: number): number {
  if (byte >= 0xc2 && byte <= 0xdf) return 0x80 << 16 | 0xbf << 8 | 1
  if (byte === 0xe0) return 0xa0 << 16 | 0xbf << 8 | 2
  if (byte === 0xed) return 0x80 << 16 | 0x9f << 8 | 2
  if (byte >= 0xe1 && byte <= 0xef) return 0x80 << 16 | 0xbf << 8 | 2
  if (byte === 0xf0) return 0x90 << 16 | 0xbf << 8 | 3
  if (byte >= 0xf1 && byte <= 0xf3) return 0x80 << 16 | 0xbf << 8 | 3
  if (byte === 0xf4) return 0x80 << 16 | 0x8f << 8 | 3
  return 0
}

const NOT_UTF8 = 'The path’s percent-encoded bytes are not UTF-8 (an overlong or broken sequence).'

/**
 * Percent-decodes unreserved characters, upper-cases other escapes, rejects the ambiguous ones:
 * escaped bytes beyond ASCII must spell well-formed UTF-8 (utf8Lead).
 */
function decodePath(raw: string): string {
  let out = ''
  let plainFrom = 0
  // Continuation bytes still due in an escaped UTF-8 sequence, and the next one's range.
  let due = 0
  let least = 0x80
  let most = 0xbf
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i)
    if (c === 37 /* % */) {
      const hi = hexValue(raw.charCodeAt(i + 1))
      const lo = hexValue(raw.charCodeAt(i + 2))
      if (hi < 0 || lo < 0) reject('The path has an invalid percent-encoding.')
      const byte = hi * 16 + lo
      if (due > 0) {
        if (byte < least || byte > most) reject(NOT_UTF8)
        due--
        least = 0x80
        most = 0xbf
      } else if (byte >= 0x80) {
        const lead = utf8Lead(byte)
        if (lead === 0) reject(NOT_UTF8)
        due = lead & 0xff
        least = lead >>> 16
        most = (lead >>> 8) & 0xff
      }
      if (byte === 0x2f || byte === 0x5c) {
        reject('Encoded slashes and backslashes are not allowed in the path.')
      }
      if (byte < 0x20 || byte === 0x7f) reject('Control characters are not allowed in the path.')
      out += raw.slice(plainFrom, i) +
        (isUnreserved(byte) ? String.fromCharCode(byte) : `%${HEX[hi]}${HEX[lo]}`)
      i += 2
      plainFrom = i + 1
      continue
    }
    if (due > 0) reject(NOT_UTF8)
    if (c < 0x20 || c === 0x7f) reject('Control characters are not allowed in the path.')
    if (c === 92 /* \ */) reject('Backslashes are not allowed in the path.')
    if (c === 59 /* ; */) reject('Path parameters (;) are not allowed.')
    if (
      c === 32 || c === 34 || c === 60 || c === 62 || c === 94 || c === 96 || c === 123 ||
      c === 124 || c === 125 || c > 126
    ) {
      // Characters a client should have escaped: escape them (UTF-8), as a URL parser would.
      const wide = c >= 0xd800 && c <= 0xdbff
      let escaped: string
      try {
        escaped = encodeURIComponent(raw.slice(i, wide ? i + 2 : i + 1))
      } catch {
        reject('The path is not valid Unicode.')
      }
      out += raw.slice(plainFrom, i) + escaped
      if (wide) i++
      plainFrom = i + 1
    }
  }
  if (due > 0) reject(NOT_UTF8)
  return plainFrom === 0 ? raw : out + raw.slice(plainFrom)
}

/** RFC 3986 §5.2.4 on an absolute path; a `..` above the root is rejected, not clamped. */
function removeDotSegments(path: string): string {
  const segments = path.split('/')
  const out: string[] = []
  for (let i = 1; i < segments.length; i++) {
    const segment = segments[i]!
    const last = i === segments.length - 1
    if (segment === '.') {
      if (last) out.push('')
    } else if (segment === '..') {
      if (out.length === 0) reject('The path climbs above the root.')
      out.pop()
      if (last) out.push('')
    } else out.push(segment)
  }
  return `/${out.join('/')}`
}

function needsWork(path: string): boolean {
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i)
    if (
      c === 37 || c === 46 || c === 92 || c === 59 || c <= 0x20 || c >= 0x7f || c === 34 ||
      c === 60 || c === 62 || c === 94 || c === 96 || c === 123 || c === 124 || c === 125
    ) return true
  }
  return false
}

/**
 * Normalises the request-target of `url` (a `request.url`). Throws BadRequestError (400) for an
 * encoded slash or backslash, a raw backslash, `;` path parameters, NUL and control characters,
 * a `#`, a bad escape, an empty segment (`//`), or dot segments that climb above the root.
 */
export function normalizeTarget(url: string): Target {
  return normalizePathAndQuery(rawTarget(url))
}

/**
 * A request-target a proxy reports for a forward-authentication check (origin-form: path and
 * query, never a scheme — a `://` in it is part of the path or query, not a URL to cut at).
 * Stricter than a request's own: the proxy forwards its own form of the path, not the one decided
 * here, so every form two servers may read differently is refused — dot segments (`.`, `..`,
 * also percent-encoded), an encoded `%` (`%25`: decoded twice, `%252e` is a dot), and bytes
 * beyond ASCII (a header carries them one character per byte: whether they were UTF-8 is not ours
 * to guess), and a space, `"`, `<` or `>` anywhere in it: no request line carries them raw (a
 * space ends the target), so they mean a header sent twice that `Headers.get` joined with `, ` —
 * a client's `/public/x` before the proxy's `/admin` must not be decided as `/public/x,%20/admin`
 * — besides everything `normalizeTarget` refuses (empty segments `//` among them).
 */
export function normalizeOriginTarget(target: string): Target {
  if (!target.startsWith('/')) reject('The original URI must be a path (origin-form).')
  for (let i = 0; i < target.length; i++) {
    const c = target.charCodeAt(i)
    if (c > 0x7e) reject('Characters beyond ASCII must be percent-encoded in a checked request.')
    if (c === 32 || c === 34 || c === 60 || c === 62) {
      reject(
        'A checked URI cannot hold a space, ", < or > (the original URI header sent twice?).',
      )
    }
  }
  const q = target.indexOf('?')
  const rawPath = q < 0 ? target : target.slice(0, q)
  for (const segment of rawPath.split('/').slice(1)) {
    const plain = segment.replace(/%2e/gi, '.')
    if (plain === '.' || plain === '..') {
      reject('Dot segments (. and ..) are not allowed in a checked request.')
    }
  }
  if (rawPath.includes('//')) {
    reject('Empty path segments (//) are not allowed in a checked request.')
  }
  // An encoded percent sign: a server that decodes twice reads %252e%252e as `..`.
  if (/%25/i.test(rawPath)) reject('An encoded % (%25) is not allowed in a checked path.')
  return normalizePathAndQuery(target)
}

function normalizePathAndQuery(target: string): Target {
  if (target.includes('#')) reject('A fragment (#) is not allowed in the request-target.')
  const q = target.indexOf('?')
  const rawPath = q < 0 ? target : target.slice(0, q)
  const search = q < 0 || q === target.length - 1 ? '' : target.slice(q)
  if (!rawPath.startsWith('/')) reject('The path must start with /.')
  // An empty segment is read two ways: nginx (merge_slashes), Apache and Rails serve `/a//b` as
  // `/a/b`, which a rule for `/a/b/*` would never have seen. Refused, as a checked request's is.
  if (rawPath.includes('//')) reject('Empty path segments (//) are not allowed in the path.')
  if (!needsWork(rawPath)) return { path: rawPath, search }
  const decoded = decodePath(rawPath)
  return { path: decoded.includes('.') ? removeDotSegments(decoded) : decoded, search }
}

/**
 * True when the path of `url` (a `request.url`) has a dot segment, written plainly or escaped
 * (`..`, `%2e%2E`). Normalised away before any rule runs, they reach a handler that routes on
 * `request.url` itself unresolved (Deno hands them over; Hono's router does not resolve them):
 * `/admin/../assets/a.css` is decided as public `/assets/…` and served by `/admin/*`. A guarded
 * handler (`protect`, `createVerifier`) is therefore not given such a request at all.
 */
export function hasDotSegment(url: string): boolean {
  const path = rawPath(url)
  if (!path.includes('.') && !/%2e/i.test(path)) return false
  for (const segment of path.split('/')) {
    const s = segment.replace(/%2e/gi, '.')
    if (s === '.' || s === '..') return true
  }
  return false
}

const HTTP_URL = /^https?:\/\//i

/**
 * Throws 400 unless a handler that routes on `request.url` itself (`protect`, `createVerifier`)
 * reads the path that was decided: `url` must be absolute — Bun hands an HTTP/1.0 request without
 * Host over with the request-target alone (`/docs/orders/7`), and Hono's router, which skips to
 * the first slash after the scheme's, serves it as `/orders/7` (400 `bad_host`) — and without a
 * dot segment (hasDotSegment; 400 `bad_path`).
 */
export function checkHandlerUrl(url: string): void {
  if (!HTTP_URL.test(url)) {
    throw new BadRequestError('bad_host', 'The request has no Host header; one is required here.')
  }
  if (hasDotSegment(url)) reject('Dot segments are not allowed in the path.')
}

/** A path written in the configuration, in the form requests are compared in, or why none is. */
export type ConfiguredPath = { readonly path: string } | { readonly problem: string }

/**
 * The form `normalizeTarget` gives a request for `path` (a route pattern's text, a stripPrefix),
 * for the configuration to be checked against at load: a path that differs from its own form
 * (`/%61pi`, `/caf%c3%a9`) is never equal to a request's path. `problem` when no request's path
 * can be it at all (an encoded slash, a control character, `//`, a dot segment).
 */
export function configuredPath(path: string): ConfiguredPath {
  let decoded: string
  try {
    decoded = decodePath(path)
  } catch (e) {
    if (!(e instanceof BadRequestError)) throw e
    return { problem: e.detail.replace(/^./, (c) => c.toLowerCase()).replace(/\.$/, '') }
  }
  if (/[?#]/.test(decoded)) {
    return { problem: 'a path has no ? or # (a query or fragment starts there)' }
  }
  if (decoded.includes('//')) return { problem: 'empty path segments (//) are not allowed' }
  for (const segment of decoded.split('/')) {
    if (segment === '.' || segment === '..') return { problem: 'dot segments are not allowed' }
  }
  return { path: decoded }
}
