/**
 * @module The environment as configuration input: the `JWTGATE_*` variables, with `_FILE` forms
 * read through the entrypoint's file reader, empty values treated as unset, and unknown
 * `JWTGATE_*` names reported (with the closest known name) instead of silently ignored.
 */
import type { ConfigIssue } from '../errors.ts'
import { VARIABLES } from './schema.ts'
import { readValueFile } from './secrets.ts'
import type { Environment, ReadFile } from './types.ts'

/** The `JWTGATE_*` input of an environment, and the problems found collecting it. */
export interface EnvInputResult {
  readonly input: Record<string, string>
  readonly issues: ConfigIssue[]
  /** Variable → the `_FILE` variable its value was read from, to name it in later issues. */
  readonly origin: Record<string, string>
}

const FILE_VARS: Record<string, string> = {
  JWTGATE_SECRET_FILE: 'JWTGATE_SECRET',
  JWTGATE_PUBLIC_KEY_FILE: 'JWTGATE_PUBLIC_KEY',
  JWTGATE_REDIS_URL_FILE: 'JWTGATE_REDIS_URL',
  JWTGATE_ADMIN_TOKEN_FILE: 'JWTGATE_ADMIN_TOKEN',
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!
    row[0] = i
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j]!
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1))
      prev = tmp
    }
  }
  return row[b.length]!
}

/** The known variable closest to a misspelt one, if any is close. */
function closestVariable(name: string): string | undefined {
  let best: string | undefined
  let bestDistance = 4
  for (const known of VARIABLES) {
    const d = distance(name, known)
    if (d < bestDistance) {
      best = known
      bestDistance = d
    }
  }
  return best
}

/** Collects the `JWTGATE_*` input from an environment. */
export function envInput(
  env: Environment,
  readFile?: ReadFile,
): EnvInputResult {
  const input: Record<string, string> = {}
  const issues: ConfigIssue[] = []
  const origin: Record<string, string> = {}
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('JWTGATE_') || value === undefined || value.trim() === '') continue
    if (!VARIABLES.includes(name)) {
      const hint = closestVariable(name)
      issues.push({
        path: name,
        message: `unknown variable${hint ? ` (did you mean ${hint}?)` : ''}`,
      })
      continue
    }
    const target = FILE_VARS[name]
    if (target === undefined) {
      input[name] = value
      continue
    }
    if (env[target] !== undefined && env[target]!.trim() !== '') {
      issues.push({ path: name, message: `set either ${target} or ${name}, not both` })
      continue
    }
    const text = readValueFile(
      value,
      readFile,
      name,
      issues,
      'files cannot be read here; pass the value in the variable itself',
    )
    if (text === undefined) continue
    input[target] = text
    origin[target] = name
  }
  return { input, issues, origin }
}
