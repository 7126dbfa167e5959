/**
 * @module Token verification with jose: the token's header only selects among configured keys
 * (by `alg` and `kid`), never supplies one. Maps every jose failure to a stable reason code.
 * RFC 7519 §7.2, RFC 8725 §3.
 */
import { errors, jwtVerify, type JWTVerifyOptions } from 'jose'
import { TokenError, UnavailableError } from '../errors.ts'
import { type Claims, freezeClaims } from './claims.ts'
import { hasDuplicateMembers } from './json.ts'
import type { VerifyKey } from './keys.ts'
import type { KeySource } from './source.ts'

export interface VerifierOptions {
  readonly sources: readonly KeySource[]
  /** The allowed algorithms (already intersected with what the keys support). */
  readonly algorithms: readonly string[]
  readonly issuers: readonly string[]
  readonly audiences: readonly string[]
  readonly clockSkewSec: number
  readonly requiredClaims: readonly string[]
  /** Required `typ` header (RFC 8725 §3.11 explicit typing), e.g. `at+jwt`. */
  readonly requiredTyp?: string | undefined
  readonly now: () => number
}

export interface Verifier {
  /**
   * Verifies a compact JWS and returns its claims, or throws TokenError / UnavailableError.
   * `header` is the token's own readHeader() result when the caller already has it.
   */
  verify(token: string, header?: TokenHeader): Promise<Claims>
}

/** What a token says about itself before verification: used only to select a provider and keys. */
export interface TokenHeader {
  readonly alg: string
  readonly kid: string | undefined
  /** The unverified `iss`, to route the token to its provider. */
  readonly iss: string | undefined
}

/** A `kid` we accept: 1–256 printable ASCII characters. */
function acceptableKid(kid: string): boolean {
  if (kid.length === 0 || kid.length > 256) return false
  for (let i = 0; i < kid.length; i++) {
    const c = kid.charCodeAt(i)
    if (c < 0x20 || c > 0x7e) return false
  }
  return true
}

const utf8 = new TextDecoder('utf-8', { fatal: true })

/** `Uint8Array.fromBase64` (ES2026; Bun and Deno have it), else atob. */
const fromBase64 = (Uint8Array as unknown as {
  fromBase64?: (text: string, options: { alphabet: 'base64url' }) => Uint8Array
}).fromBase64

function base64UrlDecode(segment: string): string {
  if (fromBase64 !== undefined) return utf8.decode(fromBase64(segment, { alphabet: 'base64url' }))
  const b64 = segment.replace(/-/g, '+').replace(/_/g, '/')
  const bin = atob(b64 + '==='.slice((b64.length + 3) % 4))
  const bytes = new Uint8Array(bin.length)
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i)
  return utf8.decode(bytes)
}

const MALFORMED = () => new TokenError('token_malformed', 'The token is malformed.')

/** Decodes a base64url JSON segment; malformed JSON or duplicate member names throw. */
export function decodeSegment(segment: string): unknown {
  let text: string
  let value: unknown
  try {
    text = base64UrlDecode(segment)
    value = JSON.parse(text)
  } catch {
    throw MALFORMED()
  }
  if (hasDuplicateMembers(text)) {
    throw new TokenError('token_malformed', 'The token has duplicate member names.')
  }
  return value
}

/**
 * Reads `alg` and `kid` from the token's protected header and checks both JSON parts for
 * duplicate member names. Anything odd is `token_malformed`: a `kid` that is not 1–256 printable
 * ASCII characters, any `crit` (we implement no extension), `b64` (unencoded payloads).
 */
export function readHeader(token: string): TokenHeader {
  const firstDot = token.indexOf('.')
  const header = decodeSegment(token.slice(0, firstDot))
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw MALFORMED()
  const { alg, kid, crit, b64 } = header as {
    alg?: unknown
    kid?: unknown
    crit?: unknown
    b64?: unknown
  }
  if (typeof alg !== 'string') throw MALFORMED()
  if (kid !== undefined && (typeof kid !== 'string' || !acceptableKid(kid))) throw MALFORMED()
  if (crit !== undefined || b64 !== undefined) {
    throw new TokenError('token_malformed', 'The token uses an unsupported header extension.')
  }
  const payload = decodeSegment(token.slice(firstDot + 1, token.lastIndexOf('.')))
  const iss = typeof payload === 'object' && payload !== null
    ? (payload as { iss?: unknown }).iss
    : undefined
  return { alg, kid, iss: typeof iss === 'string' ? iss : undefined }
}

/** Maps a jose error to our stable reason code and a generic description. */
export function tokenErrorFrom(error: unknown): TokenError {
  if (error instanceof TokenError) return error
  if (error instanceof errors.JWTExpired) {
    return new TokenError('token_expired', 'The token has expired.', { cause: error })
  }
  if (error instanceof errors.JWTClaimValidationFailed) {
    const { claim, reason } = error
    if (reason === 'missing') {
      return new TokenError('claim_missing', `The token lacks the required "${claim}" claim.`, {
        cause: error,
      })
    }
    if (reason === 'invalid') {
      return new TokenError('claim_invalid', `The token's "${claim}" claim is invalid.`, {
        cause: error,
      })
    }
    if (claim === 'nbf' || claim === 'iat') {
      return new TokenError('token_not_yet_valid', 'The token is not yet valid.', { cause: error })
    }
    if (claim === 'iss') {
      return new TokenError(
        'wrong_issuer',
        'The token was issued by an issuer that is not accepted.',
        { cause: error },
      )
    }
    if (claim === 'aud') {
      return new TokenError('wrong_audience', 'The token is not meant for this audience.', {
        cause: error,
      })
    }
    if (claim === 'typ') {
      return new TokenError('wrong_type', 'The token is not of the required type.', {
        cause: error,
      })
    }
    return new TokenError('claim_invalid', `The token's "${claim}" claim is invalid.`, {
      cause: error,
    })
  }
  if (error instanceof errors.JOSEAlgNotAllowed) {
    return new TokenError('alg_not_allowed', "The token's algorithm is not allowed.", {
      cause: error,
    })
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) {
    return new TokenError('bad_signature', 'The token signature is invalid.', { cause: error })
  }
  return new TokenError('token_malformed', 'The token is malformed.', { cause: error })
}

function finiteDates(claims: Claims): void {
  for (const name of ['exp', 'nbf', 'iat'] as const) {
    const value = claims[name]
    if (value !== undefined && (typeof value !== 'number' || !Number.isFinite(value))) {
      throw new TokenError('claim_invalid', `The token's "${name}" claim is invalid.`)
    }
  }
  // Strings (RFC 7519 §4.1): a number would never match a revocation by subject or `jti`, nor a
  // subject's rate-limit bucket, so such a token could not be revoked.
  for (const name of ['iss', 'sub', 'jti'] as const) {
    const value = claims[name]
    if (value !== undefined && typeof value !== 'string') {
      throw new TokenError('claim_invalid', `The token's "${name}" claim is invalid.`)
    }
  }
}

export function createVerifier(options: VerifierOptions): Verifier {
  const { sources, algorithms, now } = options
  const base: JWTVerifyOptions = Object.freeze({
    issuer: options.issuers.length > 0 ? [...options.issuers] : undefined,
    audience: options.audiences.length > 0 ? [...options.audiences] : undefined,
    clockTolerance: options.clockSkewSec,
    requiredClaims: [...options.requiredClaims],
    typ: options.requiredTyp,
  })

  /** Candidate keys for (alg, kid), or undefined when a source has not loaded and none matched. */
  function candidates(
    alg: string,
    kid: string | undefined,
  ): { keys: VerifyKey[]; pending: boolean; kidKnown: boolean } {
    const keys: VerifyKey[] = []
    let pending = false
    let kidKnown = false
    for (const source of sources) {
      const current = source.current()
      if (current === undefined) {
        pending = true
        continue
      }
      for (const key of current) {
        if (key.kid !== undefined && key.kid === kid) kidKnown = true
        if (key.alg === alg && (key.kid === undefined || key.kid === kid)) keys.push(key)
      }
    }
    return { keys, pending, kidKnown }
  }

  async function verify(token: string, header: TokenHeader = readHeader(token)): Promise<Claims> {
    const { alg, kid } = header
    if (!algorithms.includes(alg)) {
      throw new TokenError('alg_not_allowed', "The token's algorithm is not allowed.")
    }
    let found = candidates(alg, kid)
    if (kid !== undefined && !found.kidKnown) {
      // An unknown kid may be a rotated-in key: each remote source refetches, at most once per cooldown.
      const changed = await Promise.all(sources.map((s) => s.refresh()))
      if (changed.includes(true)) found = candidates(alg, kid)
    }
    if (found.keys.length === 0) {
      if (found.pending) throw new UnavailableError('The signing keys have not loaded yet.')
      throw new TokenError('unknown_key', 'No configured key matches the token.')
    }
    const verifyOptions: JWTVerifyOptions = {
      ...base,
      algorithms: [alg],
      currentDate: new Date(now()),
    }
    let lastError: unknown
    for (const candidate of found.keys) {
      try {
        const { payload } = await jwtVerify(token, candidate.key, verifyOptions)
        finiteDates(payload)
        // jose checks `iat` only with maxTokenAge; a token issued in the future is not yet valid.
        if (typeof payload.iat === 'number' && payload.iat > now() / 1000 + options.clockSkewSec) {
          throw new TokenError('token_not_yet_valid', 'The token is not yet valid.')
        }
        return freezeClaims(payload)
      } catch (e) {
        if (e instanceof errors.JWSSignatureVerificationFailed) {
          lastError = e
          continue
        }
        throw tokenErrorFrom(e)
      }
    }
    throw tokenErrorFrom(lastError)
  }

  return { verify }
}
