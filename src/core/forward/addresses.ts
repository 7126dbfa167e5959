/**
 * @module Sets of IP addresses written as addresses and CIDR ranges (`10.0.0.0/8`,
 * `fd00::/8`, `127.0.0.1`): who may ask the gateway for a forward-authentication check. IPv4
 * addresses are matched as their IPv4-mapped IPv6 form too (`::ffff:10.1.2.3`), as dual-stack
 * sockets report them.
 */

/** An address as 16 bytes (IPv4 as `::ffff:a.b.c.d`), or undefined when `text` is none. */
export function parseAddress(text: string): Uint8Array | undefined {
  const zone = text.indexOf('%')
  const t = (zone < 0 ? text : text.slice(0, zone)).replace(/^\[|\]$/g, '')
  const v4 = parseV4(t)
  if (v4 !== undefined) return Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, ...v4])
  return parseV6(t)
}

function parseV4(t: string): number[] | undefined {
  const parts = t.split('.')
  if (parts.length !== 4) return undefined
  const out: number[] = []
  for (const p of parts) {
    if (!/^(0|[1-9]\d{0,2})$/.test(p) || Number(p) > 255) return undefined
    out.push(Number(p))
  }
  return out
}

function parseV6(t: string): Uint8Array | undefined {
  if (!t.includes(':')) return undefined
  const halves = t.split('::')
  if (halves.length > 2) return undefined
  const groups = (s: string) => (s === '' ? [] : s.split(':'))
  const head = groups(halves[0]!)
  const tail = halves.length === 2 ? groups(halves[1]!) : []
  const words: number[] = []
  const push = (list: string[], last: boolean): boolean => {
    for (const [i, g] of list.entries()) {
      if (last && i === list.length - 1 && g.includes('.')) {
        const v4 = parseV4(g)
        if (v4 === undefined) return false
        words.push(v4[0]! * 256 + v4[1]!, v4[2]! * 256 + v4[3]!)
      } else if (/^[0-9a-fA-F]{1,4}$/.test(g)) words.push(parseInt(g, 16))
      else return false
    }
    return true
  }
  if (!push(head, halves.length === 1)) return undefined
  const headWords = words.length
  if (!push(tail, true)) return undefined
  const tailWords = words.slice(headWords)
  const missing = 8 - headWords - tailWords.length
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined
  const all = [...words.slice(0, headWords), ...new Array<number>(missing).fill(0), ...tailWords]
  const bytes = new Uint8Array(16)
  for (let i = 0; i < 8; i++) [bytes[2 * i], bytes[2 * i + 1]] = [all[i]! >> 8, all[i]! & 255]
  return bytes
}

export interface Range {
  readonly bytes: Uint8Array
  readonly bits: number
}

/** A range from `10.0.0.0/8`, `fd00::/8` or a single address; undefined when it is none. */
export function parseRange(text: string): Range | undefined {
  const slash = text.indexOf('/')
  const bytes = parseAddress(slash < 0 ? text.trim() : text.slice(0, slash).trim())
  if (bytes === undefined) return undefined
  const v4 = !text.slice(0, slash < 0 ? undefined : slash).includes(':')
  const max = v4 ? 32 : 128
  if (slash < 0) return { bytes, bits: 128 }
  const n = text.slice(slash + 1).trim()
  if (!/^\d{1,3}$/.test(n) || Number(n) > max) return undefined
  return { bytes, bits: Number(n) + (v4 ? 96 : 0) }
}

/**
 * True when `range` has bits set past its prefix (`10.0.0.1/8`): an interface's address says so
 * (its network is meant), an operator's list should not — `::ffff:10.0.0.0/8` reads as an IPv6
 * /8 that holds every IPv4 address, not as 10.0.0.0/8.
 */
export function hostBitsSet(range: Range): boolean {
  for (let bit = range.bits; bit < 128; bit++) {
    if ((range.bytes[bit >> 3]! >> (7 - (bit & 7))) & 1) return true
  }
  return false
}

/** Loopback, always among the callers a check may come from. */
export const LOOPBACK: readonly string[] = ['127.0.0.0/8', '::1/128']

/**
 * A set of address ranges.
 *
 * @example
 * const callers = new AddressSet(['127.0.0.0/8', '10.0.0.0/8'])
 * callers.has('10.1.2.3') // true
 */
export class AddressSet {
  readonly #ranges: Range[]

  /** The ranges of `texts` (each a range or an address; invalid ones are left out). */
  constructor(texts: readonly string[]) {
    this.#ranges = texts.flatMap((t) => {
      const r = parseRange(t)
      return r === undefined ? [] : [r]
    })
  }

  /** True when `address` is in one of the ranges. */
  has(address: string | undefined): boolean {
    if (address === undefined) return false
    const bytes = parseAddress(address)
    if (bytes === undefined) return false
    for (const r of this.#ranges) if (within(bytes, r)) return true
    return false
  }
}

function within(bytes: Uint8Array, range: Range): boolean {
  let bits = range.bits
  for (let i = 0; i < 16 && bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff
    if ((bytes[i]! & mask) !== (range.bytes[i]! & mask)) return false
  }
  return true
}
