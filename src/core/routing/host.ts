/**
 * @module The Host header must be `host[:port]` (RFC 9112 §3.2, RFC 3986 §3.2.2). Some runtimes
 * build `request.url` from it as sent, so a Host carrying a path, a query or a second value could
 * otherwise change the path the rules see. It is also the only source of `X-Forwarded-Host`
 * (proxy/headers.ts): never the request-target's authority, which a client writes freely in the
 * absolute form and which Bun and Deno read differently when Host is missing.
 *
 * A request without Host: Bun answers an HTTP/1.1 one 400 itself and passes an HTTP/1.0 one with
 * a relative `request.url`; Deno passes both, and HTTP/2 requests never carry Host there (their
 * `:authority` only reaches `request.url`), so the gateway cannot tell them apart. Such requests
 * are served without `X-Forwarded-Host`.
 */
import { BadRequestError } from '../errors.ts'

/** reg-name or IPv4 (letters, digits, `-`, `.`, `_`, `~`), or a bracketed IPv6 literal, then an optional port. */
const HOST = /^(?:[A-Za-z0-9._~-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/

/** True for a bare `host[:port]`. */
export function isHostValue(value: string): boolean {
  return HOST.test(value)
}

/** Throws 400 for a Host header that is not a bare authority; an absent one is left to the runtime. */
export function checkHost(host: string | null): void {
  if (host !== null && !HOST.test(host)) {
    throw new BadRequestError('bad_host', 'The Host header is not a valid host[:port].')
  }
}
