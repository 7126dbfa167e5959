/**
 * @module Secrets and keys given indirectly: a value kept in a file (read without the trailing
 * newline an editor adds; `JWTGATE_SECRET_FILE` and `{ "file": … }` both read this way), a
 * reference `{ "env": … }` or `{ "file": … }` in the configuration file, and the `base64:` form.
 */
import type { ConfigIssue } from '../errors.ts'
import type { SecretRefInput } from './file-schema.ts'
import type { Environment, ReadFile } from './types.ts'

/** A file read for configuration that is not UTF-8 text, or not a file to read (its message says). */
export class NotText extends Error {
  override readonly name = 'NotText'
}

/**
 * The text of a file read for configuration (the entrypoints' `readFile`): its bytes as UTF-8,
 * refused when they are not. Decoded leniently, a binary key file would turn each invalid byte
 * into U+FFFD (three bytes): another key, and eleven random bytes would pass the 32-byte minimum
 * as a key anyone can forge with.
 */
export function utf8Text(bytes: Uint8Array): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes)
  } catch {
    throw new NotText('not UTF-8 text (a binary key goes in as base64:<its bytes in base64>)')
  }
}

/** The largest file read for configuration (a revocations file of a million entries fits). */
export const MAX_FILE_BYTES = 256 * 1024 * 1024

/**
 * Refuses, before it is opened, what the entrypoints' `readFile` must not read: anything but a
 * regular file (a FIFO or a device would block the read, and a reload with it the whole server),
 * and a file over MAX_FILE_BYTES. `stat` is the file's, as the runtime reports it.
 */
export function checkReadable(stat: { readonly isFile: boolean; readonly size: number }): void {
  if (!stat.isFile) throw new NotText('not a regular file')
  if (stat.size > MAX_FILE_BYTES) throw new NotText(`larger than ${MAX_FILE_BYTES / 1048576} MiB`)
}

/** Why a file could not be read, for an issue: its path, and the reason when it is ours to say. */
export function unreadable(path: string, e: unknown): string {
  return `cannot read file ${JSON.stringify(path)}${reasonOf(e)}`
}

/**
 * Why a file that holds a value (a secret, a token, a key, a URL with a password) could not be
 * read, without its path: what was given as the path may be the value itself, put where its
 * file's path belongs (`JWTGATE_SECRET_FILE=<the secret>`, a key's PEM text as
 * `JWTGATE_TLS_KEY`), and no issue shows a secret. The issue's place names the setting.
 */
export function unreadableValueFile(e: unknown): string {
  return `cannot read the file it names${reasonOf(e)}`
}

function reasonOf(e: unknown): string {
  return e instanceof NotText ? `: ${e.message}` : ''
}

/** The message for a `base64:` secret whose rest is not base64. */
export const INVALID_BASE64 = 'the base64: value is not valid base64'

/** Decodes a secret: `base64:` prefix for raw bytes, else the UTF-8 bytes of the text. */
export function decodeSecret(text: string): Uint8Array | undefined {
  if (!text.startsWith('base64:')) return new TextEncoder().encode(text)
  const b64 = text.slice(7).trim().replace(/-/g, '+').replace(/_/g, '/')
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) return undefined
  try {
    const bin = atob(b64)
    return Uint8Array.from(bin, (c) => c.charCodeAt(0))
  } catch {
    return undefined
  }
}

/**
 * The value kept in the file at `path`: its text without one trailing newline (an editor's, not
 * part of the value). Undefined, with an issue at `place`, when it cannot be read; `noReader` is
 * the message when there is no file reader at all.
 */
export function readValueFile(
  path: string,
  readFile: ReadFile | undefined,
  place: string,
  issues: ConfigIssue[],
  noReader = 'files cannot be read here',
): string | undefined {
  if (readFile === undefined) {
    issues.push({ path: place, message: noReader })
    return undefined
  }
  try {
    return readFile(path).replace(/\r?\n$/, '')
  } catch (e) {
    issues.push({ path: place, message: unreadableValueFile(e) })
    return undefined
  }
}

/** A secret or key of the file: inline, from an environment variable, or read from a file. */
export function resolveSecret(
  ref: SecretRefInput | undefined,
  place: string,
  env: Environment,
  readFile: ReadFile | undefined,
  issues: ConfigIssue[],
): string | undefined {
  if (ref === undefined || typeof ref === 'string') return ref
  if ('file' in ref) return readValueFile(ref.file, readFile, place, issues)
  const value = env[ref.env]
  if (value === undefined || value === '') {
    issues.push({ path: place, message: `environment variable ${ref.env} is not set` })
  }
  return value
}
