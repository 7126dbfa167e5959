/**
 * @module The revocation step of the pipeline: a verified token (fresh or from the cache) is
 * refused 401 `token_revoked` when the list covers it; every token is refused 503
 * `revocations_unavailable` while the list has never been read from its store, and with strict
 * revocations also while it cannot be confirmed. An empty list costs
 * one comparison; a token is hashed only when some entry is by hash, and then once per cache
 * entry.
 *
 * A revocation is kept until the tokens it covers have expired, which for a subject or issuer
 * revocation (and one by `jti` or hash given without `exp`) is known only as the longest lifetime
 * the gateway is told of (`revocations.maxTokenLifetime`). So with revocations in force a token
 * must say when it was issued (`iat`, else 401 `claim_missing`) and is refused once older than
 * that lifetime (401 `token_too_old`; plus its provider's clock skew, within the hour every entry
 * is kept beyond), whatever its `exp`: no token a revocation covered can outlive the revocation
 * and become valid again when it is forgotten.
 */
import type { Config, RevocationsConfig } from '../config/types.ts'
import type { Decision } from '../decide.ts'
import { TokenError, UnavailableError } from '../errors.ts'
import { tokenHashes } from './entry.ts'
import type { RevocationList } from './list.ts'

const REVOKED = 'The token has been revoked.'

/**
 * Throws when the decision's token is revoked, or could outlive a revocation (no `iat`, or older
 * than `settings.maxTokenLifetimeSec` at `now`, epoch ms); a promise only when the token must be
 * hashed.
 */
export function checkRevoked(
  list: RevocationList,
  decision: Decision,
  settings: Pick<RevocationsConfig, 'strict' | 'maxTokenLifetimeSec'>,
  now: number,
): void | Promise<void> {
  if (!list.loaded || (settings.strict && !list.confirmed)) {
    throw new UnavailableError(
      'Revocations cannot be confirmed right now; retry later.',
      1,
      'revocations_unavailable',
    )
  }
  const claims = decision.claims
  if (claims === undefined) return
  checkTokenAge(decision, settings.maxTokenLifetimeSec, now)
  if (list.size === 0) return
  if (!list.hasHashes) {
    if (list.revoked(claims) !== undefined) throw new TokenError('token_revoked', REVOKED)
    return
  }
  const cached = decision.cached
  const known = cached?.hash
  if (known !== undefined) {
    if (list.revoked(claims, known) !== undefined) {
      throw new TokenError('token_revoked', REVOKED)
    }
    return
  }
  return tokenHashes(decision.found!.token).then((hash) => {
    if (cached !== undefined) cached.hash = hash
    if (list.revoked(claims, hash) !== undefined) {
      throw new TokenError('token_revoked', REVOKED)
    }
  })
}

/**
 * With revocations in force: throws unless the decision's verified token says when it was issued
 * (`iat`, verified as a finite number) and is no older at `now` (epoch ms) than `maxLifetimeSec`
 * plus its provider's clock skew (see the module's comment).
 */
export function checkTokenAge(decision: Decision, maxLifetimeSec: number, now: number): void {
  const iat = decision.claims?.iat
  if (typeof iat !== 'number') {
    throw new TokenError('claim_missing', 'The token lacks the required "iat" claim.')
  }
  const skew = decision.provider?.config.verify.clockSkewSec ?? 0
  if (now / 1000 - iat > maxLifetimeSec + skew) {
    throw new TokenError('token_too_old', 'The token is older than this gateway accepts.')
  }
}

/** True when the configuration names a revocation store (Redis, a revocations file). */
export function revocationsConfigured(config: Config): boolean {
  return config.redis !== undefined || config.revocations.file !== undefined
}

/**
 * The list a gateway or verifier checks: the one it was given. A configuration that names a
 * revocation store (Redis, a file) with no list given — an embedder's createGateway, protect or
 * createVerifier; the core reads no store itself — is refused with a TypeError at construction:
 * checking nothing would pass every revoked token, and refusing every token (503) would say why
 * only in a log. To use Redis for rate limits alone, give an empty list.
 */
export function revocationsFor(
  config: Config,
  given: RevocationList | undefined,
): RevocationList | undefined {
  if (given !== undefined || !revocationsConfigured(config)) return given
  const store = config.redis !== undefined ? 'Redis' : 'a revocations file'
  throw new TypeError(
    `jwtgate: the configuration names ${store} for revocations, but no RevocationList was given (deps.revocations): give one kept in step with it (add, addAll, replace), or an empty one to check none`,
  )
}
