/**
 * @module Revocations kept in a file, for a gateway without Redis: one JSON entry per line
 * (core/revocation/entry.ts), blank lines and `#` comments allowed. `jwtgate revoke` and
 * `POST /revocations` append a line; every process serving from the file reloads it when it
 * changes (polled, within a second). A file that cannot be read at start stops the start; a bad
 * file later keeps the list in force and is logged. A file that does not exist yet is empty.
 */
import type { Logger } from '../core/log.ts'
import { parseRevocation, type Revocation, revocationJson } from '../core/revocation/entry.ts'
import type { RevocationList } from '../core/revocation/list.ts'
import type { Host } from './host.ts'

/** The entries of a revocations file's text, or the problems of its lines. */
export function parseRevocationsFile(
  text: string,
  nowSec: number,
  maxLifetimeSec: number,
): { readonly entries: Revocation[] } | { readonly problems: string[] } {
  const entries: Revocation[] = []
  const problems: string[] = []
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) continue
    let value: unknown
    try {
      value = JSON.parse(line)
    } catch {
      problems.push(`line ${i + 1}: not JSON`)
      continue
    }
    const undated = undatedProblem(value)
    if (undated !== undefined) {
      problems.push(`line ${i + 1}: ${undated}`)
      continue
    }
    const entry = parseRevocation(value, nowSec, maxLifetimeSec)
    if (typeof entry === 'string') problems.push(`line ${i + 1}: ${entry}`)
    else entries.push(entry)
  }
  return problems.length > 0 ? { problems } : { entries }
}

/**
 * Why a file line lacks the times it needs: read again on every change of the file, a line whose
 * `before` or `until` were filled in from the clock would mean something else each time.
 */
function undatedProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined
  const v = value as Record<string, unknown>
  if (
    (v.jti !== undefined || v.token_sha256 !== undefined) && v.exp === undefined &&
    v.until === undefined
  ) {
    return 'a line of the file needs "exp" or "until" (jwtgate revoke writes them)'
  }
  if ((v.sub !== undefined || v.issuer !== undefined) && v.before === undefined) {
    return 'a line of the file needs "before" (jwtgate revoke writes it)'
  }
  return undefined
}

/** The revocations file's text; undefined when it does not exist yet. Throws when unreadable. */
function readRevocationsText(host: Host, path: string): string | undefined {
  try {
    return host.readFile(path)
  } catch (e) {
    if ((e as { code?: string }).code === 'ENOENT' || (e as Error).name === 'NotFound') {
      return undefined
    }
    throw new Error(`cannot read the revocations file ${path}`)
  }
}

/**
 * Appends `entry` to the revocations file at `path` (created if absent) on a line of its own —
 * after a newline when the file's last line has none (a hand edit, a write cut short: the entry
 * would otherwise join that line, and the file stop loading) — then reads the file back as every
 * gateway will. Throws when it does not load, so that `jwtgate revoke` and `POST /revocations`
 * never report a revocation no gateway reads.
 */
export function appendRevocation(
  host: Host,
  path: string,
  entry: Revocation,
  nowSec: number,
  maxLifetimeSec: number,
  /** Checked by a writer that holds no list (`jwtgate revoke`): the file's entries in force. */
  maxEntries?: number,
): void {
  const before = readRevocationsText(host, path) ?? ''
  const line = `${JSON.stringify(revocationJson(entry))}\n`
  // The same revocation again (a retried POST) is in the file already: not written twice.
  if (`\n${before}`.includes(`\n${line}`)) return
  if (maxEntries !== undefined) {
    const held = parseRevocationsFile(before, nowSec, maxLifetimeSec)
    const inForce = 'entries' in held ? held.entries.filter((e) => e.until > nowSec).length : 0
    if (inForce >= maxEntries) {
      throw new Error(
        `the revocations file is full (${maxEntries} entries in force, revocations.maxEntries): not written`,
      )
    }
  }
  host.appendFile(path, before === '' || before.endsWith('\n') ? line : `\n${line}`)
  const after = parseRevocationsFile(readRevocationsText(host, path) ?? '', nowSec, maxLifetimeSec)
  if ('problems' in after) {
    throw new Error(
      `the revocations file ${path} does not load (${
        after.problems.slice(0, 5).join('; ')
      }): the revocation is written, but no gateway reads the file until it is repaired`,
    )
  }
}

/** A revocations file mirrored in `list`. */
export class FileRevocations {
  constructor(
    readonly host: Host,
    readonly path: string,
    readonly list: RevocationList,
    readonly options: {
      readonly logger: Logger
      readonly now: () => number
      readonly maxLifetimeSec: number
    },
  ) {}

  /** Loads the file into the list; the problem that keeps it from loading, as one line. */
  load(): string | undefined {
    const read = this.#read()
    if (typeof read === 'string') return read
    const left = this.list.replace(read, this.options.now())
    if (left > 0) {
      return `revocations file ${this.path}: more than ${this.list.maxEntries} entries in force`
    }
    return undefined
  }

  /** Reloads the file whenever it changes; returns the function that stops watching. */
  watch(): () => void {
    return this.host.watchFile(this.path, () => {
      // Gone after start (deleted, an unmounted volume): that lifts no revocation. An empty file
      // is how the list is cleared on purpose.
      const read = this.#read(`the revocations file ${this.path} is gone`)
      if (typeof read === 'string') {
        this.options.logger.log('error', 'revocations_reload_failed', {
          problem: read,
          keeping: 'the revocations in force',
        })
        return
      }
      const left = this.list.replace(read, this.options.now())
      this.options.logger.log(left > 0 ? 'error' : 'info', 'revocations_synced', {
        store: 'file',
        entries: this.list.size,
        left_out: left > 0 ? left : undefined,
      })
    })
  }

  /** Appends `entry` to the file and puts it in force here. */
  revoke(entry: Revocation): Promise<void> {
    if (!this.list.hasRoomFor(entry, this.options.now())) {
      return Promise.reject(
        new Error(`the revocation list is full (${this.list.maxEntries} entries)`),
      )
    }
    try {
      appendRevocation(
        this.host,
        this.path,
        entry,
        Math.floor(this.options.now() / 1000),
        this.options.maxLifetimeSec,
      )
    } catch (e) {
      return Promise.reject(e)
    }
    this.list.add(entry, this.options.now())
    return Promise.resolve()
  }

  /** The file's entries; a problem as one line — `missing` when there is no file, if given. */
  #read(missing?: string): Revocation[] | string {
    let text: string | undefined
    try {
      text = readRevocationsText(this.host, this.path)
    } catch (e) {
      return (e as Error).message
    }
    if (text === undefined) return missing ?? []
    const parsed = parseRevocationsFile(
      text,
      Math.floor(this.options.now() / 1000),
      this.options.maxLifetimeSec,
    )
    if ('problems' in parsed) {
      return `revocations file ${this.path}: ${parsed.problems.slice(0, 5).join('; ')}`
    }
    return parsed.entries
  }
}
