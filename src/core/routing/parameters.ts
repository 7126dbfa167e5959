/**
 * @module Request parameters as backends read them: a query's `name=value` pairs (split at `&`,
 * and at a `;` a `name=` follows), and the spellings a backend reads as one name — escaped, `+`
 * as a space, PHP's `.`, ` ` and `[` for `_`, cut at a NUL. Token query parameters and token cookies are found
 * and removed in every such spelling (auth/token.ts); so is a method override (routing/method.ts).
 */

/** Characters without which a name other than `name` cannot read as `name` (sameName). */
const RESPELLING = /[%+. [_\0]/

/**
 * True when a backend may read the cookie or query parameter `raw` (as written, or decoded) as
 * `name`: the same name, also percent-decoded with `+` as a space (PHP and Rack decode cookie
 * names too), with `.`, ` ` and a lone `[` read as `_`, and `name[…]` read as `name` (PHP's
 * `$_GET` and `$_COOKIE`: `access.token` is `access_token`, `access_token[]` an array of it;
 * Rack's too), and a name cut at a NUL (`session%00x`: PHP reads a name as a C string). Case
 * counts: cookie names are case-sensitive (RFC 6265), and a backend's own `SESSION` beside a token
 * cookie `session` is another cookie (Spring Session's).
 */
export function sameName(raw: string, name: string): boolean {
  const n = raw.trim()
  if (n === name) return true
  if (!RESPELLING.test(n) && !RESPELLING.test(name)) return false
  return phpName(phpKey(decodeName(n))) === phpName(name)
}

/** The name PHP registers: up to the first NUL, its leading spaces dropped. */
function phpKey(name: string): string {
  const nul = name.indexOf('\0')
  return (nul < 0 ? name : name.slice(0, nul)).replace(/^ +/, '')
}

/**
 * The `name=value` pairs of a query (`?` first): split at `&`, and at a `;` that a `name=`
 * follows — Rack before 3.0 and other backends split there too, so `x=;access_token=…` holds a
 * copy of `access_token` (a `;` inside a value, `q=rust;go`, stays in it).
 */
export function queryPairs(search: string): string[] {
  const pairs: string[] = []
  for (const pair of search.slice(1).split('&')) {
    if (pair.indexOf(';') < 0) pairs.push(pair)
    else pairs.push(...splitAtNamedSemicolons(pair))
  }
  return pairs
}

/** `pair` split at each `;` whose next piece reads `name=…`; the others are part of the value. */
function splitAtNamedSemicolons(pair: string): string[] {
  const pieces = pair.split(';')
  const out = [pieces[0]!]
  for (let i = 1; i < pieces.length; i++) {
    const piece = pieces[i]!
    if (piece.indexOf('=') > 0) out.push(piece)
    else out[out.length - 1] += `;${piece}`
  }
  return out
}

/**
 * A parameter's name or value percent-decoded, `+` as a space — every good escape, also beside a
 * bad one (`%5Fmethod%E9`: decodeURIComponent gives up on the whole string, PHP and Rack decode
 * `%5F`); bytes that are no UTF-8 come out as Latin-1 characters.
 */
export function decodeName(raw: string): string {
  const spaced = raw.indexOf('+') < 0 ? raw : raw.replace(/\+/g, ' ')
  if (spaced.indexOf('%') < 0) return spaced
  try {
    return decodeURIComponent(spaced)
  } catch {
    return spaced.replace(
      /%([0-9A-Fa-f]{2})/g,
      (_, hex: string) => String.fromCharCode(parseInt(hex, 16)),
    )
  }
}

/** The name PHP gives a parameter: up to a `[` that a `]` closes (an array), `.` ` ` `[` as `_`. */
function phpName(name: string): string {
  const open = name.indexOf('[')
  const base = open > 0 && name.indexOf(']', open) > open ? name.slice(0, open) : name
  return base.replace(/[. []/g, '_')
}

/**
 * `search` without parameter `name` in any spelling a backend reads as it (escaped, or PHP's
 * `.` for `_`: sameName); the other parameters keep their bytes exactly.
 */
export function searchWithout(search: string, name: string): string {
  const kept = search
    .slice(1)
    .split('&')
    .filter((pair) =>
      pair !== '' && !splitAtNamedSemicolons(pair).some((p) => isParameter(p, name))
    )
  return kept.length === 0 ? '' : `?${kept.join('&')}`
}

/** True when `part` (`name=value`, or a bare name) is parameter `name` in any spelling. */
function isParameter(part: string, name: string): boolean {
  const eq = part.indexOf('=')
  return sameName(decodeName(eq < 0 ? part : part.slice(0, eq)), name)
}

/** True when `search` (`?` first, or empty) holds parameter `name` in any spelling (sameName). */
export function hasParameter(search: string, name: string): boolean {
  if (search === '') return false
  for (const pair of queryPairs(search)) {
    if (isParameter(pair, name)) return true
  }
  return false
}
