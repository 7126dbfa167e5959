/**
 * @module Revocation settings (JWTGATE_REVOCATIONS_*, `revocations:`; a variable wins) and the
 * admin credential that writes need (JWTGATE_ADMIN_TOKEN(_FILE), `admin.token`: a secret).
 */
import type { ConfigIssue } from '../errors.ts'
import type { FileConfig } from './file-schema.ts'
import type { EnvValues } from './schema.ts'
import { resolveSecret } from './secrets.ts'
import type { Environment, ProviderConfig, ReadFile, RevocationsConfig } from './types.ts'
import { durationMs } from './values.ts'

/** The shortest admin credential accepted. */
export const MIN_ADMIN_TOKEN = 32

/**
 * The revocation settings; `redis` says whether Redis keeps them instead of a file, `providers`
 * how far ahead a token's `iat` may be (beforeMarginSec).
 */
export function revocationSettings(
  values: EnvValues,
  input: Readonly<Record<string, string>>,
  file: FileConfig | undefined,
  redis: boolean,
  providers: readonly ProviderConfig[],
  issues: ConfigIssue[],
): RevocationsConfig {
  const set = (variable: string) => variable in input
  const fromFile = file?.revocations
  const path = set('JWTGATE_REVOCATIONS_FILE') ? values.JWTGATE_REVOCATIONS_FILE : fromFile?.file
  if (path !== undefined && redis) {
    issues.push({
      path: set('JWTGATE_REVOCATIONS_FILE') ? 'JWTGATE_REVOCATIONS_FILE' : 'revocations.file',
      message: 'with JWTGATE_REDIS_URL revocations are kept in Redis; drop the file',
    })
  }
  const lifetime = set('JWTGATE_REVOCATIONS_MAX_TOKEN_LIFETIME') || fromFile === undefined
    ? values.JWTGATE_REVOCATIONS_MAX_TOKEN_LIFETIME
    : durationMs(fromFile.maxTokenLifetime)
  if (lifetime < 1000) {
    issues.push({
      path: set('JWTGATE_REVOCATIONS_MAX_TOKEN_LIFETIME') || fromFile === undefined
        ? 'JWTGATE_REVOCATIONS_MAX_TOKEN_LIFETIME'
        : 'revocations.maxTokenLifetime',
      message: 'must be at least 1s',
    })
  }
  return {
    file: redis ? undefined : path,
    strict: set('JWTGATE_REVOCATIONS_STRICT') || fromFile === undefined
      ? values.JWTGATE_REVOCATIONS_STRICT
      : fromFile.strict,
    maxTokenLifetimeSec: Math.ceil(lifetime / 1000),
    maxEntries: fromFile?.maxEntries ?? 1_000_000,
    beforeMarginSec: Math.max(0, ...providers.map((p) => p.verify.clockSkewSec)),
  }
}

/** The admin credential, checked: long enough, and with an admin listener to use it on. */
export function adminToken(
  values: EnvValues,
  input: Readonly<Record<string, string>>,
  file: FileConfig | undefined,
  env: Environment,
  readFile: ReadFile | undefined,
  hasAdmin: boolean,
  issues: ConfigIssue[],
): string | undefined {
  const fromEnv = 'JWTGATE_ADMIN_TOKEN' in input
  const place = fromEnv ? 'JWTGATE_ADMIN_TOKEN' : 'admin.token'
  const token = fromEnv
    ? values.JWTGATE_ADMIN_TOKEN
    : resolveSecret(file?.admin?.token, place, env, readFile, issues)
  if (token === undefined) return undefined
  if (token.length < MIN_ADMIN_TOKEN || /\s/.test(token)) {
    issues.push({
      path: place,
      message:
        `must be at least ${MIN_ADMIN_TOKEN} characters without spaces (e.g. openssl rand -hex 32)`,
    })
  }
  if (!hasAdmin) {
    issues.push({ path: place, message: 'needs an admin listener (JWTGATE_ADMIN_PORT)' })
  }
  return token
}
