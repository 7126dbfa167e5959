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
import { hasDuplicateMembers } from '../auth/json.ts'
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
  // valibot's own messages quote the value (`…but received "rediss://user:password@…"`): a secret
  // written in the wrong place must not be echoed to stderr or the reload log. Its kind is said.
  if (/^Invalid [\w ]+: Expected .* but received /.test(issue.message)) {
    const what = issue.message.slice(0, issue.message.indexOf(':'))
    return `${what}: expected ${issue.expected ?? 'another value'}, got ${kindOf(issue.input)}`
  }
  return issue.message
}

/** What a value is — a number or boolean as itself, never the text of a string. */
function kindOf(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'a list'
  if (typeof value === 'object') return 'a map'
  if (typeof value === 'string') return 'a string'
  if (typeof value === 'number' || typeof value === 'boolean') return String(value)
  return typeof value
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
    if (path.endsWith('.json')) {
      const value: unknown = JSON.parse(text)
      // As YAML files are read (uniqueKeys): JSON.parse would keep the last of two `routes`.
      if (hasDuplicateMembers(text)) {
        return { issue: { path, message: 'is not valid: a key appears twice in one object' } }
      }
      return { value }
    }
    const { parseDocument, isScalar } = await import('yaml')
    // Silent: the parser's own warnings (an unknown tag) go to the console with the source line,
    // a secret perhaps. A warning is a problem here, said by its place and code only. Keys are
    // compared as the object they become has them: `1` and `"1"` are one key, said twice.
    const keyText = (node: unknown) => (isScalar(node) ? String(node.value) : node)
    const doc = parseDocument(text, {
      uniqueKeys: (a, b) => keyText(a) === keyText(b),
      logLevel: 'silent',
    })
    if (doc.directives?.yaml.version !== undefined && doc.directives.yaml.version !== '1.2') {
      return {
        issue: {
          path,
          message:
            'is not valid: only YAML 1.2 is read (a %YAML 1.1 line would make yes, on, 0755, 1:00 and << mean other things)',
        },
      }
    }
    const problem = doc.errors[0] ?? doc.warnings[0]
    if (problem !== undefined) {
      const at = problem.linePos?.[0]
      const where = at === undefined ? '' : `, line ${at.line}, column ${at.col}`
      const code = problem.code.toLowerCase().replaceAll('_', ' ')
      return { issue: { path, message: `is not valid YAML (${code}${where})` } }
    }
    return { value: doc.toJS({ maxAliasCount: 100 }) }
  } catch (e) {
    if (path.endsWith('.json')) return { issue: { path, message: jsonProblem(text, e) } }
    // Never the parser's message: it may quote the text (a secret).
    return { issue: { path, message: 'is not valid YAML (too many aliases, or unreadable)' } }
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
