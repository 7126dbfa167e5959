/**
 * @module The bucket name of a client address, for every limit keyed by address
 * (JWTGATE_RATE_LIMIT's, named limits' `client` keys).
 */
import { parseAddress } from '../forward/addresses.ts'

const IPV4 = /^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/

/**
 * The bucket name of a client address: one per IPv4 address and one per IPv6 /64 — what one
 * subscriber is given: counted apart, each of its 2^64 addresses would have a bucket of its own,
 * and a client could spread over them past any limit — the same however the address is spelt
 * (`2001:DB8::1` and `2001:db8:0::1`, `::ffff:192.0.2.1` and `192.0.2.1`, with a port some
 * proxies append to `X-Forwarded-For`). Text that is no address is kept as it is.
 */
export function clientBucket(client: string | undefined): string {
  if (client === undefined) return ''
  if (IPV4.test(client)) return client
  let text = client.trim()
  const colon = text.indexOf(':')
  if (text.startsWith('[')) {
    text = text.slice(1, text.indexOf(']') < 0 ? undefined : text.indexOf(']'))
  } else if (colon > 0 && colon === text.lastIndexOf(':')) text = text.slice(0, colon)
  const bytes = parseAddress(text)
  if (bytes === undefined) return client
  if (isV4Mapped(bytes)) return `${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`
  let prefix = ''
  for (let i = 0; i < 8; i += 2) prefix += `${((bytes[i]! << 8) | bytes[i + 1]!).toString(16)}:`
  return `${prefix}:/64`
}

/** True for `::ffff:a.b.c.d`, an IPv4 address in IPv6's form (as parseAddress gives IPv4). */
function isV4Mapped(bytes: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return false
  return bytes[10] === 255 && bytes[11] === 255
}
