/**
 * @module The revocation step of the pipeline: a verified token (fresh or from the cache) is
 * refused 401 `token_revoked` when the list covers it; with strict revocations, every token is
 * refused 503 `revocations_unavailable` while the list cannot be confirmed. An empty list costs
 * one comparison; a token is hashed only when some entry is by hash, and then once per cache
 * entry.
 */
import type { Config } from '../config/types.ts'
import type { Decision } from '../decide.ts'
import type { Logger } from '../log.ts'
import { TokenError, UnavailableError } from '../errors.ts'
import { tokenHashes } from './entry.ts'
import { RevocationList } from './list.ts'

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
  return tokenHashes(decision.found!.token).then((hash) => {
    if (cached !== undefined) cached.hash = hash
    if (list.revoked(decision.claims!, hash) !== undefined) {
      throw new TokenError('token_revoked', REVOKED)
    }
  })
}

/**
 * The list a gateway or verifier checks: the one it was given; or, when the configuration names a
 * revocation store (Redis, a file) and none was given — an embedder's createGateway, protect or
 * createVerifier — none, said once in the log, and with strict revocations an unconfirmed empty
 * list, so that tokens are refused (503) rather than passed unchecked.
 */
export function revocationsFor(
  config: Config,
  given: RevocationList | undefined,
  logger: Logger,
): RevocationList | undefined {
  if (given !== undefined) return given
  if (config.redis === undefined && config.revocations.file === undefined) return undefined
  logger.log('warn', 'revocations_not_checked', {
    reason:
      'the configuration names a revocation store but no revocation list was given (GatewayDeps.revocations)',
    strict: config.revocations.strict,
  })
  if (!config.revocations.strict) return undefined
  const closed = new RevocationList()
  closed.confirmed = false
  return closed
}
