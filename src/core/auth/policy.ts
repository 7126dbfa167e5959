/**
 * @module Authorization policy on verified claims: required scopes (all of) and roles (any of).
 * Exact-token matches only; an unexpected claim type grants nothing.
 */
import { ForbiddenError } from '../errors.ts'
import { readClaim, type ClaimPath, type Claims } from './claims.ts'

export interface Policy {
  readonly requiredScopes: readonly string[]
  readonly requiredRoles: readonly string[]
  readonly rolesClaim: ClaimPath
}

/** A claim as a list of strings: a space-separated string or an array; other types give []. */
function stringList(value: unknown): readonly string[] {
  if (typeof value === 'string') return value.split(' ').filter((s) => s !== '')
  if (Array.isArray(value)) return value.filter((item): item is string => typeof item === 'string')
  return []
}

/** The token's scopes: the RFC 8693 `scope` string, else an `scp` array or string. */
export function tokenScopes(claims: Claims): readonly string[] {
  if (typeof claims.scope === 'string') return stringList(claims.scope)
  return stringList(claims.scp)
}

/** Throws ForbiddenError unless the claims satisfy the policy. */
export function checkPolicy(claims: Claims, policy: Policy): void {
  if (policy.requiredScopes.length > 0) {
    const scopes = tokenScopes(claims)
    if (!policy.requiredScopes.every((s) => scopes.includes(s))) {
      throw new ForbiddenError('insufficient_scope', 'The token lacks a required scope.', policy.requiredScopes)
    }
  }
  if (policy.requiredRoles.length > 0) {
    const roles = stringList(readClaim(claims, policy.rolesClaim))
    if (!policy.requiredRoles.some((r) => roles.includes(r))) {
      throw new ForbiddenError('insufficient_role', 'The token lacks a required role.')
    }
  }
}
