/**
 * @module The revocation step of the pipeline: a verified token (fresh or from the cache) is
 * refused 401 `token_revoked` when the list covers it; with strict revocations, every token is
 * refused 503 `revocations_unavailable` while the list cannot be confirmed. An empty list costs
 * one comparison; a token is hashed only when some entry is by hash, and then once per cache
 * entry.
 */
import type { Decision } from '../decide.ts'
import { TokenError, UnavailableError } from '../errors.ts'
import { tokenHash } from './entry.ts'
import type { RevocationList } from './list.ts'

const REVOKED = 'The token has been revoked.'

/** Throws when the decision's token is revoked; a promise only when the token must be hashed. */
export function checkRevoked(
  list: RevocationList,
  decision: Decision,
  strict: boolean,
): void | Promise<void> {
  if (strict && !list.confirmed) {
    throw new UnavailableError(
      'Revocations cannot be confirmed right now; retry later.',
      1,
      'revocations_unavailable',
    )
  }
  if (list.size === 0 || decision.claims === undefined) return
  if (!list.hasHashes) {
    if (list.revoked(decision.claims) !== undefined) throw new TokenError('token_revoked', REVOKED)
    return
  }
  const cached = decision.cached
  const known = cached?.hash
  if (known !== undefined) {
    if (list.revoked(decision.claims, known) !== undefined) {
      throw new TokenError('token_revoked', REVOKED)
    }
    return
  }
  return tokenHash(decision.found!.token).then((hash) => {
    if (cached !== undefined) cached.hash = hash
    if (list.revoked(decision.claims!, hash) !== undefined) {
      throw new TokenError('token_revoked', REVOKED)
    }
  })
}
