/**
 * @module Reading the configuration file: JSON or YAML (the `yaml` package), validated against
 * FileSchema with every problem reported at its place (`routes[3].require.claims[0]: …`). A file
 * that fails validation is still searched for unknown references (references.ts).
 */
import * as v from 'valibot'
import type { ConfigIssue } from '../errors.ts'
import { type FileConfig, FileSchema, LocalFileSchema } from './file-schema.ts'
import { referenceIssues } from './references.ts'
import { unreadable } from './secrets.ts'
import type { ReadFile } from './types.ts'

/** `routes[3].require.claims[0]` from a valibot issue path. */
function issuePlace(issue: v.BaseIssue<unknown>): string {
  let place = ''
  for (const item of issue.path ?? []) {
    const key = item.key
    if (typeof key === 'number') place += `[${key}]`
    else if (typeof key === 'string' && /^[A-Za-z_$][\w$]*$/.test(key)) {
      place += place === '' ? key : `.${key}`
    } else place += `[${JSON.stringify(key)}]`
  }
  return place
}

function issueMessage(issue: v.BaseIssue<unknown>): string {
  if (issue.type === 'strict_object' && issue.expected === 'never') return 'unknown key'
  if (issue.input === undefined && issue.kind === 'schema' && issue.type !== 'union') {
    return issue.message.startsWith('Invalid') ? 'is required' : issue.message
  }
  return issue.message
}

/**
 * Parses JSON or YAML text (YAML is a superset of JSON; the path's extension picks the message).
 * The YAML parser is loaded only when a YAML file is read.
 */
async function parseConfigText(
  text: string,
  path: string,
): Promise<{ value?: unknown; issue?: ConfigIssue }> {
  try {
    if (path.endsWith('.json')) return { value: JSON.parse(text) }
    const { parse } = await import('yaml')
    return { value: parse(text, { uniqueKeys: true, maxAliasCount: 100 }) }
  } catch (e) {
    if (path.endsWith('.json')) return { issue: { path, message: jsonProblem(text, e) } }
    const reason = e instanceof Error ? e.message.split('\n')[0] : 'unreadable'
    return { issue: { path, message: `is not valid YAML: ${reason}` } }
  }
}

/**
 * Where a JSON file stops being JSON, never what it holds there: a runtime's message may quote
 * the text around it (V8's does: `..."token":hunter2-ad"...`), a secret perhaps.
 */
function jsonProblem(text: string, e: unknown): string {
  const at = /position (\d+)/.exec(e instanceof Error ? e.message : '')
  if (at === null) return 'is not valid JSON'
  const before = text.slice(0, Number(at[1]))
  const line = before.split('\n').length
  const column = before.length - before.lastIndexOf('\n')
  return `is not valid JSON (line ${line}, column ${column})`
}

/** Validates a parsed file (an empty one is `{}`); returns its value or every problem found. */
function validateFile(
  value: unknown,
  local: boolean | undefined,
): { file?: FileConfig; issues: ConfigIssue[] } {
  // Undefined: the file's own `mode` says (auth mode needs no upstream).
  const auth = typeof value === 'object' && value !== null && 'mode' in value &&
    (value as { mode?: unknown }).mode === 'auth'
  const result = v.safeParse(local ?? auth ? LocalFileSchema : FileSchema, value ?? {})
  if (result.success) return { file: result.output, issues: [] }
  return {
    issues: result.issues.map((issue) => ({
      path: issuePlace(issue) || '(file)',
      message: issueMessage(issue),
    })),
  }
}

/**
 * The file at `path` (JWTGATE_CONFIG), parsed and validated, with the defaults in place; undefined
 * when it cannot be read or is not valid, its problems in `issues`.
 */
export async function readConfigFile(
  path: string,
  readFile: ReadFile | undefined,
  issues: ConfigIssue[],
  local?: boolean,
): Promise<FileConfig | undefined> {
  let text: string
  try {
    if (readFile === undefined) throw new Error('no reader')
    text = readFile(path)
  } catch (e) {
    issues.push({ path: 'JWTGATE_CONFIG', message: unreadable(path, e) })
    return undefined
  }
  const parsed = await parseConfigText(text, path)
  if (parsed.issue !== undefined) {
    issues.push(parsed.issue)
    return undefined
  }
  const validated = validateFile(parsed.value, local)
  issues.push(...validated.issues)
  if (validated.file === undefined) issues.push(...referenceIssues(parsed.value))
  return validated.file
}
