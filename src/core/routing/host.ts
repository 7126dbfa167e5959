/**
 * @module The Host header must be `host[:port]` (RFC 9112 §3.2, RFC 3986 §3.2.2). Some runtimes
 * build `request.url` from it as sent, so a Host carrying a path, a query or a second value could
 * otherwise change the path the rules see.
 */
import { BadRequestError } from '../errors.ts'

/** reg-name or IPv4 (letters, digits, `-`, `.`, `_`, `~`), or a bracketed IPv6 literal, then an optional port. */
const HOST = /^(?:[A-Za-z0-9._~-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/

/** Throws 400 for a Host header that is not a bare authority; an absent one is left to the runtime. */
export function checkHost(host: string | null): void {
  if (host !== null && !HOST.test(host)) throw new BadRequestError('bad_host', 'The Host header is not a valid host[:port].')
}
