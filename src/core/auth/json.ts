/**
 * @module Duplicate member names in JSON (RFC 8259 §4, RFC 7515 §5.2 step 4). JSON.parse keeps
 * the last of two equal names silently; a token whose header or claims say two things at once is
 * rejected instead, so that no two parsers can ever read different claims from it. Names compare
 * after unescaping: `"a"` and `"\u0061"` are the same name.
 *
 * How: the text's member names are counted (a string followed by `:`), and so are the parsed
 * value's own keys. JSON.parse keeps one key per distinct name in each object, so the counts differ
 * exactly when some object repeats a name. No set of names, no substring per name.
 */

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

/** Member names in `text` (valid JSON): the strings followed, after whitespace, by a colon. */
function countNames(text: string): number {
  let names = 0
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) !== 34 /* " */) continue
    i = stringEnd(text, i)
    let c = text.charCodeAt(i)
    while (c === 32 || c === 9 || c === 10 || c === 13) c = text.charCodeAt(++i)
    if (c === 58 /* : */) names++
    i--
  }
  return names
}

/** Own keys of every object in `value`, nested ones included (iteratively: no depth limit). */
function countKeys(value: unknown): number {
  let keys = 0
  const pending: unknown[] = [value]
  while (pending.length > 0) {
    const item = pending.pop()
    if (typeof item !== 'object' || item === null) continue
    if (Array.isArray(item)) {
      for (const element of item) if (typeof element === 'object' && element !== null) pending.push(element)
      continue
    }
    const names = Object.keys(item)
    keys += names.length
    for (const name of names) {
      const member = (item as Record<string, unknown>)[name]
      if (typeof member === 'object' && member !== null) pending.push(member)
    }
  }
  return keys
}

/**
 * True when some object in `text` (valid JSON) has two members with the same name. `parsed` is
 * `JSON.parse(text)` when the caller has it already.
 */
export function hasDuplicateMembers(text: string, parsed: unknown = JSON.parse(text)): boolean {
  return countNames(text) !== countKeys(parsed)
}
