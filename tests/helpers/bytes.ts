/** Byte-buffer helpers shared by the raw HTTP/1.1 clients of the end-to-end and security suites. */

/** `parts` joined into one buffer. */
export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0))
  let offset = 0
  for (const p of parts) {
    out.set(p, offset)
    offset += p.byteLength
  }
  return out
}

/** The index of the first CR LF CR LF (the end of a header block) at or after `from`, or -1. */
export function indexOfCrlfCrlf(data: Uint8Array, from = 0): number {
  for (let i = from; i + 3 < data.length; i++) {
    if (data[i] === 13 && data[i + 1] === 10 && data[i + 2] === 13 && data[i + 3] === 10) return i
  }
  return -1
}
