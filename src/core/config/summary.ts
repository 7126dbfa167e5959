/**
 * @module A one-line, secret-free description of a Config, for the start-up line and `check`.
 */
import { describeKeys } from '../auth/keys.ts'
import { describeTokenSource } from '../auth/token.ts'
import type { Config } from './load.ts'

/** Key sources, e.g. `secret (HS256), jwks https://idp/jwks.json`. */
export function describeKeySources(config: Config): string {
  const parts = config.keys.local.map((l) => `${l.label} (${describeKeys(l.keys)})`)
  if (config.keys.jwksUrl !== undefined) parts.push(`jwks ${config.keys.jwksUrl}`)
  if (config.keys.oidcIssuer !== undefined) parts.push(`oidc ${config.keys.oidcIssuer}`)
  return parts.join(', ')
}

/** The policy in a few words: what is checked beyond the signature. */
export function describePolicy(config: Config): string {
  const parts: string[] = [`algorithms ${config.verify.algorithms.join(',')}`]
  if (config.verify.issuers.length > 0) parts.push(`issuer ${config.verify.issuers.join(',')}`)
  if (config.verify.audiences.length > 0) parts.push(`audience ${config.verify.audiences.join(',')}`)
  if (config.verify.requiredClaims.length > 0) parts.push(`required claims ${config.verify.requiredClaims.join(',')}`)
  if (config.verify.requiredTyp !== undefined) parts.push(`typ ${config.verify.requiredTyp}`)
  if (config.policy.requiredScopes.length > 0) parts.push(`scopes ${config.policy.requiredScopes.join(' ')}`)
  if (config.policy.requiredRoles.length > 0) parts.push(`roles ${config.policy.requiredRoles.join(' ')} in ${config.policy.rolesClaim.raw}`)
  if (config.publicPaths.length > 0) parts.push(`public ${config.publicPaths.join(',')}`)
  parts.push(`tokens from ${config.tokenSources.map(describeTokenSource).join(',')}`)
  if (config.forward.claims.length > 0) parts.push(`claims ${config.forward.claims.map((c) => `${c.claim.raw}→${c.header}`).join(',')}`)
  return parts.join('; ')
}

/** Fields for the start-up log event. */
export function summaryFields(config: Config): Record<string, string> {
  return {
    upstream: config.upstream.url,
    keys: describeKeySources(config),
    policy: describePolicy(config),
  }
}
