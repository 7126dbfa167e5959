/**
 * @module Parsers for the value syntaxes shared by configuration variables: durations, lists,
 * booleans, ports. Pure functions returning `undefined` on bad input, plus the valibot actions that
 * wrap them with a message naming the expected form.
 */
import { hostBitsSet, parseRange } from '../forward/addresses.ts'
import * as v from 'valibot'

const UNIT_MS = new Map([['ms', 1], ['s', 1000], ['m', 60_000], ['h', 3_600_000]])

/**
 * Milliseconds in one `unit` of a duration (`ms`, `s`, `m`, `h`): the one unit table of every
 * duration the configuration reads, rate-limit periods included. Undefined for another unit.
 */
export function unitMs(unit: string): number | undefined {
  return UNIT_MS.get(unit)
}

/** `500ms`, `30s`, `5m`, `1h`, or a plain number of seconds (`1.5`) → milliseconds. */
export function parseDuration(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)([a-z]*)$/.exec(text.trim())
  const unit = match === null ? undefined : unitMs(match[2] || 's')
  if (unit === undefined) return undefined
  const ms = Number(match![1]) * unit
  return Number.isFinite(ms) ? Math.round(ms) : undefined
}

/** A duration as the file writes it (seconds as a number, or text), already validated → ms. */
export function durationMs(value: number | string): number {
  return typeof value === 'number' ? Math.round(value * 1000) : parseDuration(value)!
}

/** A comma- (and, with `spaces`, whitespace-) separated list; empty items dropped. */
export function parseList(text: string, spaces = false): string[] {
  return text
    .split(spaces ? /[\s,]+/ : ',')
    .map((item) => item.trim())
    .filter((item) => item !== '')
}

/** `true`/`false` (also `1`/`0`, `yes`/`no`, `on`/`off`), case-insensitive. */
function parseBoolean(text: string): boolean | undefined {
  const t = text.trim().toLowerCase()
  if (t === 'true' || t === '1' || t === 'yes' || t === 'on') return true
  if (t === 'false' || t === '0' || t === 'no' || t === 'off') return false
  return undefined
}

/** A whole number in [min, max], written in plain decimal digits. */
export function parseInteger(text: string, min: number, max: number): number | undefined {
  if (!/^\d+$/.test(text.trim())) return undefined
  const n = Number(text.trim())
  return n >= min && n <= max ? n : undefined
}

const SIZE_UNIT: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
}

/** `1048576`, `512k`, `10mb`, `2g` (powers of 1024) → bytes. */
export function parseSize(text: string): number | undefined {
  const match = /^(\d+)\s*([a-z]*)$/i.exec(text.trim())
  const unit = match === null ? undefined : SIZE_UNIT[match[2]!.toLowerCase()]
  return unit === undefined ? undefined : Number(match![1]) * unit
}

/** Shows a user's value in an error message, shortened; never use it for secrets. */
export function shown(value: string): string {
  return JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value)
}

type Parse<T> = (text: string) => T | undefined

/**
 * A valibot pipe for a string that passes `problem` (a message, or undefined when fine);
 * `notString` is the message for a value that is not a string (or is missing).
 */
export function checked(problem: (value: string) => string | undefined, notString?: string) {
  return v.pipe(
    v.string(notString),
    v.rawCheck<string>(({ dataset, addIssue }) => {
      if (!dataset.typed) return
      const message = problem(dataset.value)
      if (message !== undefined) addIssue({ message })
    }),
  )
}

/** A valibot pipe turning a string into T with `parse`, which returns T or a message. */
export function orMessage<T>(parse: (text: string) => T | string) {
  return v.pipe(
    v.string(),
    v.rawTransform<string, T>(({ dataset, addIssue, NEVER }) => {
      const out = parse(dataset.value)
      if (typeof out === 'string') {
        addIssue({ message: out })
        return NEVER
      }
      return out
    }),
  )
}

/** A valibot pipe turning a string into T with `parse`, or an issue "<expected> (got "…")". */
export function parsed<T>(parse: Parse<T>, expected: string, secret = false) {
  return v.pipe(
    v.string(),
    v.rawTransform<string, T>(({ dataset, addIssue, NEVER }) => {
      const out = parse(dataset.value)
      if (out === undefined) {
        addIssue({ message: secret ? expected : `${expected} (got ${shown(dataset.value)})` })
        return NEVER
      }
      return out
    }),
  )
}

/**
 * The longest duration a timer can wait (2^31 − 1 ms, 24.8 days): a longer one fires at once in
 * the runtimes (a shutdown timeout of 600h would cut every request in flight on SIGTERM).
 */
export const MAX_TIMER_MS = 2_147_483_647

/** Parses a duration no longer than a timer can wait (MAX_TIMER_MS). */
export function parseTimerDuration(text: string): number | undefined {
  const ms = parseDuration(text)
  return ms !== undefined && ms <= MAX_TIMER_MS ? ms : undefined
}

export const duration = parsed(
  parseTimerDuration,
  'must be a duration such as 500ms, 30s, 5m, or a number of seconds, up to 24 days',
)
/** A deadline (upstream, JWKS, Redis): a timer duration above 0 — at 0 every call would fail. */
export const timeout = parsed(
  (t) => {
    const ms = parseTimerDuration(t)
    return ms !== undefined && ms > 0 ? ms : undefined
  },
  'must be a duration above 0 such as 500ms, 30s, 5m, or a number of seconds, up to 24 days',
)
/** A size above 0 (a message or buffer cap: at 0 nothing would pass). */
export const positiveSize = parsed(
  (t) => {
    const n = parseSize(t)
    return n !== undefined && n > 0 ? n : undefined
  },
  'must be a size above 0 in bytes, or with a unit: 512k, 10mb, 2g',
)
/** A duration no timer waits for (a token's lifetime): any length. */
export const longDuration = parsed(
  parseDuration,
  'must be a duration such as 12h, 720h, or a number of seconds',
)
export const boolean = parsed(parseBoolean, 'must be true or false')
export const port = parsed(
  (t) => parseInteger(t, 0, 65535),
  'must be a port number from 0 to 65535',
)
export const size = parsed(parseSize, 'must be a size in bytes, or with a unit: 512k, 10mb, 2g')
export const count = parsed(
  (t) => parseInteger(t, 0, 1000),
  'must be a whole number from 0 to 1000',
)

/** The most workers JWTGATE_WORKERS accepts. */
export const MAX_WORKERS = 256

/** Parses JWTGATE_WORKERS: `auto` or a whole number from 1 to MAX_WORKERS. */
export function parseWorkers(text: string): number | 'auto' | undefined {
  const t = text.trim().toLowerCase()
  if (t === 'auto') return 'auto'
  if (!/^\d+$/.test(t)) return undefined
  const n = Number(t)
  return n >= 1 && n <= MAX_WORKERS ? n : undefined
}

/** Why `text` is not a check path (JWTGATE_AUTH_PATH): undefined when it is one. */
export function authPathProblem(text: string): string | undefined {
  if (!/^\/[A-Za-z0-9._~!$&'()+,=:@/-]*$/.test(text)) {
    return 'must be a path such as /auth or /ext_authz (letters, digits and - . _ ~ / only)'
  }
  if (/\/\/|\/\.\.?(\/|$)/.test(text)) return 'must be a plain path, without // or dot segments'
  return undefined
}

/** Why an entry of JWTGATE_AUTH_CALLERS is not an address or range; undefined when it is one. */
export function callerProblem(text: string): string | undefined {
  const range = parseRange(text)
  if (range === undefined) {
    return `${
      JSON.stringify(text)
    } is not an address or CIDR range (10.0.0.0/8, fd00::/8, 192.0.2.7)`
  }
  if (hostBitsSet(range)) {
    return `${
      JSON.stringify(text)
    } has address bits set past its prefix: write the network it means (10.0.0.0/8, ::ffff:10.0.0.0/104)`
  }
  return undefined
}

/** A comma-separated list whose every item `problem` accepts (the first problem is the message). */
export function checkedList(problem: (item: string) => string | undefined) {
  return orMessage((s) => {
    const items = parseList(s)
    for (const item of items) {
      const found = problem(item)
      if (found !== undefined) return found
    }
    return items
  })
}

/**
 * A token's required `typ` (JWTGATE_REQUIRED_TYP, a provider's `requiredTyp`): a media type of
 * visible ASCII, as a JWS header carries it (`at+jwt`, RFC 9068).
 */
export const mediaType = v.pipe(
  v.string(),
  v.regex(/^[\x21-\x7e]{1,100}$/, 'must be a media type such as at+jwt'),
)
