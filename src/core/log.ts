/**
 * @module Structured logging: one line per event, JSON or a readable `pretty` form, written to a
 * sink the entrypoint provides. Callers pass fields, never tokens or secrets.
 */

export type LogLevel = 'debug' | 'info' | 'warn' | 'error'
export type LogFormat = 'json' | 'pretty'
export type LogFields = Readonly<
  Record<string, string | number | boolean | undefined | readonly string[]>
>

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 }

export interface Logger {
  /** True when a line at `level` would be written; check it before building costly fields. */
  enabled(level: LogLevel): boolean
  log(level: LogLevel, event: string, fields?: LogFields): void
}

export interface LoggerOptions {
  readonly level: LogLevel
  readonly format: LogFormat
  /** Receives each line, without a trailing newline. */
  readonly sink: (line: string) => void
  readonly now?: () => number
}

/** Characters JSON.stringify leaves raw that a terminal or a log shipper may act on: DEL, C1 controls, line separators. */
const RAW_CONTROLS = /[\x7f-\x9f\u2028\u2029]/g

/** JSON text with every control character escaped (JSON.stringify escapes only C0). */
function escapedJson(value: unknown): string {
  const text = JSON.stringify(value)
  RAW_CONTROLS.lastIndex = 0
  return RAW_CONTROLS.test(text)
    ? text.replace(RAW_CONTROLS, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
    : text
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

export function createLogger(options: LoggerOptions): Logger {
  const min = RANK[options.level]
  const now = options.now ?? Date.now
  return {
    enabled: (level) => RANK[level] >= min,
    log(level, event, fields) {
      if (RANK[level] < min) return
      options.sink(formatLine(options.format, now(), level, event, fields))
    },
  }
}

/** A logger that writes nothing (the default for embedders who pass none). */
export const silentLogger: Logger = { enabled: () => false, log() {} }
