/**
 * @module Structured logging: one line per event, JSON or a readable `pretty` form, written to a
 * sink the entrypoint provides. Callers pass fields, never tokens or secrets.
 */

/** How important a line is; a logger writes its level and above. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error'
/** `json`: one JSON object per line, for log shippers; `pretty`: `time LEVEL event key=value …`. */
export type LogFormat = 'json' | 'pretty'
/** An event's fields, written after `time`, `level` and `event`; undefined values are left out. */
export type LogFields = Readonly<
  Record<string, string | number | boolean | undefined | readonly string[]>
>

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 }

/** Where the gateway writes its events and access lines (`GatewayDeps.logger`). */
export interface Logger {
  /** True when a line at `level` would be written; check it before building costly fields. */
  enabled(level: LogLevel): boolean
  /** Writes one line for `event` (`request`, `jwks_retry`, …) when `level` is enabled. */
  log(level: LogLevel, event: string, fields?: LogFields): void
}

/** What `createLogger` takes. */
export interface LoggerOptions {
  /** The lowest level written. */
  readonly level: LogLevel
  /** The line format. */
  readonly format: LogFormat
  /** Receives each line, without a trailing newline. */
  readonly sink: (line: string) => void
  /** The clock, in milliseconds since the epoch (default `Date.now`). */
  readonly now?: () => number
  /** Fields written on every line, after `event` (a worker's number, say). */
  readonly fields?: LogFields
}

/**
 * Characters JSON.stringify leaves raw that a terminal, a log viewer or a log shipper may act on:
 * DEL and C1 controls, line and paragraph separators, and every format character (Unicode's Cf:
 * the invisible ones that reorder or hide text — bidirectional controls and marks, zero-width
 * characters, the soft hyphen, the byte-order mark, tag characters): a `sub` of
 * `bidi\u202egnp.exe` would show as another name.
 */
const RAW_CONTROLS = /[\x7f-\x9f\u2028\u2029\p{Cf}]/gu
/** The same and C0 controls but tab: what text for a terminal must not carry raw. */
const TERMINAL_CONTROLS =
  // deno-lint-ignore no-control-regex -- the control characters are what it finds
  /[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\p{Cf}]/gu

/** `\uXXXX` for each UTF-16 unit of `c` (a tag character is a pair: JSON's escape for it). */
const escapeChar = (c: string) => {
  let out = ''
  for (let i = 0; i < c.length; i++) out += `\\u${c.charCodeAt(i).toString(16).padStart(4, '0')}`
  return out
}

/** JSON text with every control character escaped (JSON.stringify escapes only C0). */
function escapedJson(value: unknown): string {
  const text = JSON.stringify(value)
  RAW_CONTROLS.lastIndex = 0
  return RAW_CONTROLS.test(text) ? text.replace(RAW_CONTROLS, escapeChar) : text
}

/**
 * `text` with every character a terminal acts on written as `\uXXXX` (escape sequences that clear
 * the screen or set a window title, line breaks that forge another line): for text that holds
 * a token's values and goes to a terminal as it is (`jwtgate explain`).
 */
export function terminalSafe(text: string): string {
  TERMINAL_CONTROLS.lastIndex = 0
  return TERMINAL_CONTROLS.test(text) ? text.replace(TERMINAL_CONTROLS, escapeChar) : text
}

/** A value as it is when plain printable ASCII without `"`, `=` or spaces; else quoted and escaped as in JSON. */
function prettyValue(value: string | number | boolean | readonly string[]): string {
  const text = Array.isArray(value) ? value.join(',') : String(value)
  return /^[\x21\x23-\x3c\x3e-\x7e]+$/.test(text) ? text : escapedJson(text)
}

/** Formats one event as a line: values from a token (a signed `sub`) may hold any character, and never reach the line raw. */
export function formatLine(
  format: LogFormat,
  time: number,
  level: LogLevel,
  event: string,
  fields: LogFields = {},
): string {
  const iso = new Date(time).toISOString()
  if (format === 'json') return escapedJson({ time: iso, level, event, ...fields })
  let line = `${iso} ${level.toUpperCase().padEnd(5)} ${event}`
  for (const key in fields) {
    const value = fields[key]
    if (value !== undefined) line += ` ${key}=${prettyValue(value)}`
  }
  return line
}

/**
 * A Logger that formats each event as one line and hands it to `options.sink`. Values are
 * escaped so that none (a token's `sub`, say) can break a line or send control characters.
 * The configuration's `log` settings (JWTGATE_LOG_LEVEL, JWTGATE_LOG_FORMAT) are what the binary
 * uses; pass them on to log as it does.
 *
 * @example
 * import { createGateway, createLogger, loadConfig } from 'jwtgate'
 * const config = await loadConfig(env)
 * const logger = createLogger({ ...config.log, sink: console.log })
 * const gateway = createGateway(config, { logger })
 */
export function createLogger(options: LoggerOptions): Logger {
  const min = RANK[options.level]
  const now = options.now ?? Date.now
  const always = options.fields
  return {
    enabled: (level) => RANK[level] >= min,
    log(level, event, fields) {
      if (RANK[level] < min) return
      const all = always === undefined ? fields : { ...always, ...fields }
      options.sink(formatLine(options.format, now(), level, event, all))
    },
  }
}

/** A logger that writes nothing (the default for embedders who pass none). */
export const silentLogger: Logger = { enabled: () => false, log() {} }
