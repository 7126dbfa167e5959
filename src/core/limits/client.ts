/**
 * @module The bucket name of a client address, for every limit keyed by address
 * (JWTGATE_RATE_LIMIT's, named limits' `client` keys).
 */
import { parseAddress } from '../forward/addresses.ts'

const IPV4 = /^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/

/** Buckets of recent addresses: parsing an IPv6 one costs ~1.5 µs, a lookup ~0.05. */
const known = new Map<string, string>()
const KNOWN_MAX = 4096

/**
 * The bucket name of a client address: one per IPv4 address and one per public IPv6 /64 — what
 * one subscriber is given: counted apart, each of its 2^64 addresses would have a bucket of its
 * own, and a client could spread over them past any limit — the same however the address is
 * spelt (`2001:DB8::1` and `2001:db8:0::1`, `::ffff:192.0.2.1` and `192.0.2.1`, with a port some
 * proxies append to `X-Forwarded-For`). Unique-local and link-local addresses (fc00::/7,
 * fe80::/10) are a network's own, whose /64 holds many machines (a Kubernetes node's pods): one
 * bucket per address. Text that is no address is kept as it is.
 */
export function clientBucket(client: string | undefined): string {
  if (client === undefined) return ''
  if (IPV4.test(client)) return client
  let bucket = known.get(client)
  if (bucket === undefined) {
    bucket = bucketOf(client)
    if (known.size >= KNOWN_MAX) known.clear()
    known.set(client, bucket)
  }
  return bucket
}

function bucketOf(client: string): string {
  let text = client.trim()
  const colon = text.indexOf(':')
  if (text.startsWith('[')) {
    text = text.slice(1, text.indexOf(']') < 0 ? undefined : text.indexOf(']'))
  } else if (colon > 0 && colon === text.lastIndexOf(':')) text = text.slice(0, colon)
  const bytes = parseAddress(text)
  if (bytes === undefined) return client
  if (isV4Mapped(bytes)) return `${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`
  const local = (bytes[0]! & 0xfe) === 0xfc || (bytes[0] === 0xfe && (bytes[1]! & 0xc0) === 0x80)
  const groups = local ? 16 : 8
  let out = ''
  for (let i = 0; i < groups; i += 2) {
    out += `${i === 0 ? '' : ':'}${((bytes[i]! << 8) | bytes[i + 1]!).toString(16)}`
  }
  return local ? out : `${out}::/64`
}

/** True for `::ffff:a.b.c.d`, an IPv4 address in IPv6's form (as parseAddress gives IPv4). */
function isV4Mapped(bytes: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return false
  return bytes[10] === 255 && bytes[11] === 255
}
