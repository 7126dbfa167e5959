/**
 * @module Reading the configuration file: JSON or YAML (the `yaml` package), validated against
 * FileSchema with every problem reported at its place (`routes[3].require.claims[0]: …`).
 */
import * as v from 'valibot'
import type { ConfigIssue } from '../errors.ts'
import { type FileConfig, FileSchema } from './file-schema.ts'

/** `routes[3].require.claims[0]` from a valibot issue path. */
export function issuePlace(issue: v.BaseIssue<unknown>): string {
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
export async function parseConfigText(
  text: string,
  path: string,
): Promise<{ value?: unknown; issue?: ConfigIssue }> {
  try {
    if (path.endsWith('.json')) return { value: JSON.parse(text) }
    const { parse } = await import('yaml')
    return { value: parse(text, { uniqueKeys: true, maxAliasCount: 100 }) }
  } catch (e) {
    const reason = e instanceof Error ? e.message.split('\n')[0] : 'unreadable'
    return {
      issue: {
        path,
        message: `is not valid ${path.endsWith('.json') ? 'JSON' : 'YAML'}: ${reason}`,
      },
    }
  }
}

/** Validates a parsed file; returns its value or every problem found. */
export function validateFile(value: unknown): { file?: FileConfig; issues: ConfigIssue[] } {
  if (value === null || value === undefined) return { file: {}, issues: [] }
  const result = v.safeParse(FileSchema, value)
  if (result.success) return { file: result.output, issues: [] }
  return {
    issues: result.issues.map((issue) => ({
      path: issuePlace(issue) || '(file)',
      message: issueMessage(issue),
    })),
  }
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

/**
 * References between parts of a file that failed validation elsewhere: checked on the raw value,
 * so that a schema problem in one route does not hide an unknown upstream in another.
 */
export function referenceIssues(value: unknown): ConfigIssue[] {
  if (!isRecord(value) || !Array.isArray(value.routes)) return []
  const upstreams = isRecord(value.upstreams) ? Object.keys(value.upstreams) : []
  const providers = isRecord(value.providers) ? Object.keys(value.providers) : []
  const issues: ConfigIssue[] = []
  for (const [i, route] of value.routes.entries()) {
    if (!isRecord(route)) continue
    if (typeof route.upstream === 'string' && !upstreams.includes(route.upstream)) {
      issues.push({
        path: `routes[${i}].upstream`,
        message: `unknown upstream ${JSON.stringify(route.upstream)}`,
      })
    }
    if (Array.isArray(route.providers)) {
      for (const [j, name] of route.providers.entries()) {
        if (typeof name === 'string' && !providers.includes(name)) {
          issues.push({
            path: `routes[${i}].providers[${j}]`,
            message: `unknown provider ${JSON.stringify(name)}`,
          })
        }
      }
    }
  }
  return issues
}
