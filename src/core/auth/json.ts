/**
 * @module Duplicate member names in JSON (RFC 8259 §4, RFC 7515 §5.2 step 4). JSON.parse keeps
 * the last of two equal names silently; a token whose header or claims say two things at once is
 * rejected instead, so that no two parsers can ever read different claims from it. Names compare
 * after unescaping: `"a"` and `"\u0061"` are the same name.
 */

interface Frame {
  readonly names: Set<string> | undefined // undefined for an array
  expectName: boolean
}

/** Index just past the closing quote of the string starting at `start` (a `"`). */
function stringEnd(text: string, start: number): number {
  let i = start + 1
  while (i < text.length) {
    const c = text.charCodeAt(i)
    if (c === 92 /* \ */) i += 2
    else if (c === 34 /* " */) return i + 1
    else i++
  }
  return i
}

/** True when some object in `text` (valid JSON) has two members with the same name. */
export function hasDuplicateMembers(text: string): boolean {
  const stack: Frame[] = []
  let top: Frame | undefined
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === 34 /* " */) {
      const end = stringEnd(text, i)
      if (top?.names !== undefined && top.expectName) {
        const raw = text.slice(i, end)
        const name = raw.includes('\\') ? (JSON.parse(raw) as string) : raw.slice(1, -1)
        if (top.names.has(name)) return true
        top.names.add(name)
        top.expectName = false
      }
      i = end - 1
    } else if (c === 123 /* { */ || c === 91 /* [ */) {
      top = { names: c === 123 ? new Set() : undefined, expectName: c === 123 }
      stack.push(top)
    } else if (c === 125 /* } */ || c === 93 /* ] */) {
      stack.pop()
      top = stack[stack.length - 1]
    } else if (c === 44 /* , */ && top?.names !== undefined) {
      top.expectName = true
    }
  }
  return false
}
