/**
 * @module Key sources: where a verifier's keys come from. A static source holds keys imported at
 * start; a remote source (jwks.ts) fetches them. Each source verifies with its own keys only.
 */
import type { VerifyKey } from './keys.ts'

export interface KeySource {
  /** For logs and the start-up line: `secret`, `public key`, `jwks https://…`. */
  readonly label: string
  /** The keys now; undefined while none has loaded yet (a remote source at start). */
  current(): readonly VerifyKey[] | undefined
  /**
   * A token named a key this source lacks: refetch, unless a fetch ran within the cooldown.
   * Resolves true when a new key set was loaded. Never rejects.
   */
  refresh(): Promise<boolean>
  /** Stops timers (tests, shutdown). */
  close(): void
  /** Grows whenever a new key set is loaded: cached verifications of older sets are dropped. */
  version(): number
}

/** Keys fixed at start (a secret, PEM or JWK keys from configuration). */
export function staticSource(label: string, keys: readonly VerifyKey[]): KeySource {
  const frozen = Object.freeze([...keys])
  return {
    label,
    current: () => frozen,
    refresh: () => Promise.resolve(false),
    close() {},
    version: () => 0,
  }
}
