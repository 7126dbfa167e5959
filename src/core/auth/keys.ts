/**
 * @module Verification keys: each key imported once, as one CryptoKey per algorithm it may verify,
 * bound to that algorithm (RFC 8725 §3.1). Secrets, PEM keys and certificates, JWKs and JWK Sets.
 */
import { importJWK, importSPKI, importX509, type JWK } from 'jose'

/**
 * The CryptoKey type as jose declares it (under Deno, jose's types name node's webcrypto
 * CryptoKey, which the DOM one does not satisfy). Left out of the API reference: it names a
 * jose function's return type.
 *
 * @ignore
 */
export type JoseKey = Awaited<ReturnType<typeof importSPKI>>

/** A key ready for jose: one CryptoKey bound to exactly one algorithm. */
export interface VerifyKey {
  /** The key ID a token's `kid` header is matched against; undefined when the key has none. */
  readonly kid: string | undefined
  /** The one algorithm this key verifies. */
  readonly alg: string
  /** The imported key (a CryptoKey, or a secret's bytes, as jose takes them). */
  readonly key: JoseKey
}

export const HMAC_ALGS = ['HS256', 'HS384', 'HS512'] as const
export const RSA_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'] as const
export const EC_ALGS: Record<string, string> = {
  'P-256': 'ES256',
  'P-384': 'ES384',
  'P-521': 'ES512',
}
/** Every algorithm the gateway can verify; `none` is never among them. */
export const SUPPORTED_ALGS: readonly string[] = [
  ...HMAC_ALGS,
  ...RSA_ALGS,
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
]

/** Thrown at start for a key that cannot be used; the message names what is wrong. */
export class KeyImportError extends Error {
  override readonly name = 'KeyImportError'
}

const HMAC_MIN_BYTES: Record<string, number> = { HS256: 32, HS384: 48, HS512: 64 }

/** The HS algorithms a secret of this length may verify (RFC 7518 §3.2: key ≥ hash size). */
export function hmacAlgorithmsFor(byteLength: number): string[] {
  return HMAC_ALGS.filter((alg) => byteLength >= HMAC_MIN_BYTES[alg]!)
}

/**
 * True for a secret that is key material of another kind: a PEM block (a public key, a
 * certificate) or a JWK / JWK Set. Taken as an HMAC secret, a public key lets anyone who holds it
 * sign tokens (algorithm confusion): it is published.
 */
function isOtherKey(bytes: Uint8Array): boolean {
  const text = new TextDecoder().decode(bytes)
  return /-----BEGIN [A-Z0-9 ]+-----/.test(text) || /^\s*\{[\s\S]*"(?:kty|keys)"\s*:/.test(text)
}

/**
 * Imports an HMAC secret for each HS algorithm its length allows and `allowed` permits; refuses a
 * secret that is a PEM block or a JWK (isOtherKey).
 */
export function importSecret(
  bytes: Uint8Array,
  allowed: readonly string[] | undefined,
): Promise<VerifyKey[]> {
  if (isOtherKey(bytes)) {
    return Promise.reject(
      new KeyImportError(
        'the secret is a PEM block or a JWK, not a shared secret: a public key as an HMAC secret lets anyone who has it sign tokens; give a public key as the public key (JWTGATE_PUBLIC_KEY, publicKey)',
      ),
    )
  }
  if (bytes.byteLength < 32) {
    return Promise.reject(
      new KeyImportError(
        `the secret is ${bytes.byteLength} bytes; at least 32 bytes (256 bits) are required for HS256`,
      ),
    )
  }
  const algs = hmacAlgorithmsFor(bytes.byteLength).filter((alg) =>
    allowed === undefined || allowed.includes(alg)
  )
  return Promise.all(
    algs.map(async (alg) => ({
      kid: undefined,
      alg,
      key: (await crypto.subtle.importKey(
        'raw',
        bytes as BufferSource,
        { name: 'HMAC', hash: `SHA-${alg.slice(2)}` },
        false,
        ['verify'],
      )) as unknown as JoseKey,
    })),
  )
}

/** The algorithms a public JWK may verify: its own `alg` if it names one, else those of its type. */
export function algorithmsForJwk(jwk: JWK): string[] {
  if (typeof jwk.alg === 'string') return [jwk.alg]
  if (jwk.kty === 'RSA') return [...RSA_ALGS]
  if (jwk.kty === 'EC' && typeof jwk.crv === 'string' && EC_ALGS[jwk.crv]) {
    return [EC_ALGS[jwk.crv]!]
  }
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') return ['EdDSA', 'Ed25519']
  return []
}

/**
 * RSA keys below this size are refused when they are read (RFC 7518 §3.3, §3.5): jose refuses to
 * verify with them, and one such key met first among a set's candidates failed every token.
 */
const MIN_RSA_BITS = 2048

/** The bit length of a JWK's RSA modulus (`n`, base64url), or 0 when it cannot be read. */
function modulusBits(n: string): number {
  let bytes: string
  try {
    bytes = atob(n.replace(/-/g, '+').replace(/_/g, '/'))
  } catch {
    return 0
  }
  let i = 0
  while (i < bytes.length && bytes.charCodeAt(i) === 0) i++
  if (i === bytes.length) return 0
  return (bytes.length - i - 1) * 8 + (32 - Math.clz32(bytes.charCodeAt(i)))
}

/** Why an RSA key of `bits` may not be used, or undefined. */
function rsaSizeProblem(bits: number): string | undefined {
  return bits < MIN_RSA_BITS
    ? `its RSA modulus has ${bits} bits; at least ${MIN_RSA_BITS} are needed`
    : undefined
}

/** Why a JWK may not verify signatures, or undefined when it may. */
export function unusableJwk(jwk: JWK): string | undefined {
  if (jwk.kty === 'oct') {
    return 'symmetric (oct) keys are never taken from a key set; use JWTGATE_SECRET'
  }
  if (jwk.kty !== 'RSA' && jwk.kty !== 'EC' && jwk.kty !== 'OKP') {
    return `unsupported key type ${JSON.stringify(jwk.kty)}`
  }
  if (jwk.d !== undefined) return 'it is a private key; give the public key only'
  // Another type would read as no kid at all: a key tried for every token, whatever its kid.
  if (jwk.kid !== undefined && typeof jwk.kid !== 'string') return 'its "kid" is not a string'
  if (jwk.key_ops !== undefined && !Array.isArray(jwk.key_ops)) {
    return 'its "key_ops" is not a list'
  }
  if (jwk.use !== undefined && jwk.use !== 'sig') {
    return `its "use" is ${JSON.stringify(jwk.use)}, not "sig"`
  }
  if (Array.isArray(jwk.key_ops) && !jwk.key_ops.includes('verify')) {
    return 'its "key_ops" does not include "verify"'
  }
  if (typeof jwk.alg === 'string' && !SUPPORTED_ALGS.includes(jwk.alg)) {
    return `its "alg" ${JSON.stringify(jwk.alg)} is not supported`
  }
  if (algorithmsForJwk(jwk).length === 0) return 'no supported algorithm fits it'
  if (jwk.kty === 'RSA') {
    if (typeof jwk.n !== 'string') return 'its "n" (the RSA modulus) is missing'
    return rsaSizeProblem(modulusBits(jwk.n))
  }
  return undefined
}

/** Imports one public JWK for each algorithm it fits and `allowed` permits. */
export async function importPublicJwk(
  jwk: JWK,
  allowed: readonly string[] | undefined,
): Promise<VerifyKey[]> {
  const problem = unusableJwk(jwk)
  if (problem !== undefined) throw new KeyImportError(problem)
  const kid = typeof jwk.kid === 'string' ? jwk.kid : undefined
  const algs = algorithmsForJwk(jwk).filter((alg) => allowed === undefined || allowed.includes(alg))
  const { alg: _alg, key_ops: _ops, use: _use, ...bare } = jwk
  const keys: VerifyKey[] = []
  for (const alg of algs) {
    try {
      keys.push({ kid, alg, key: (await importJWK({ ...bare, ext: false }, alg)) as JoseKey })
    } catch {
      throw new KeyImportError(
        `the ${String(jwk.kty)} key${kid ? ` "${kid}"` : ''} cannot be imported for ${alg}`,
      )
    }
  }
  return keys
}

/** Candidate algorithm groups tried, in order, to find which kind of key a PEM holds. */
const PEM_PROBES: readonly (readonly string[])[] = [RSA_ALGS, ['ES256'], ['ES384'], ['ES512'], [
  'EdDSA',
  'Ed25519',
]]

async function importPem(
  pem: string,
  allowed: readonly string[] | undefined,
): Promise<VerifyKey[]> {
  const isCert = pem.includes('-----BEGIN CERTIFICATE-----')
  if (!isCert && !pem.includes('-----BEGIN PUBLIC KEY-----')) {
    throw new KeyImportError(
      pem.includes('PRIVATE KEY')
        ? 'it is a private key; give the public key (SPKI PEM) only'
        : 'expected a "BEGIN PUBLIC KEY" or "BEGIN CERTIFICATE" PEM block',
    )
  }
  for (const group of PEM_PROBES) {
    const imported: VerifyKey[] = []
    for (const alg of group) {
      try {
        const key = isCert ? await importX509(pem, alg) : await importSPKI(pem, alg)
        imported.push({ kid: undefined, alg, key })
      } catch {
        break
      }
    }
    if (imported.length > 0) {
      const algorithm = (imported[0]!.key as CryptoKey).algorithm as Partial<RsaHashedKeyAlgorithm>
      const small = algorithm.modulusLength === undefined
        ? undefined
        : rsaSizeProblem(algorithm.modulusLength)
      if (small !== undefined) throw new KeyImportError(`the PEM key is refused: ${small}`)
      return imported.filter((k) => allowed === undefined || allowed.includes(k.alg))
    }
  }
  throw new KeyImportError(
    'the PEM could not be read as an RSA, EC (P-256/384/521) or Ed25519 public key',
  )
}

/**
 * Imports the text of JWTGATE_PUBLIC_KEY: a PEM (SPKI public key or X.509 certificate; several
 * blocks allowed), a JWK, or a JWK Set.
 */
export async function importPublicKeyText(
  text: string,
  allowed: readonly string[] | undefined,
): Promise<VerifyKey[]> {
  const trimmed = text.trim()
  if (trimmed.startsWith('{')) {
    let parsed: unknown
    try {
      parsed = JSON.parse(trimmed)
    } catch {
      throw new KeyImportError(
        'it starts with "{" but is not valid JSON (expected a JWK or a JWK Set)',
      )
    }
    if (typeof parsed !== 'object' || parsed === null) {
      throw new KeyImportError('expected a JWK or a JWK Set object')
    }
    const set = parsed as { keys?: unknown }
    const jwks: unknown[] = Array.isArray(set.keys) ? set.keys : [parsed]
    if (jwks.length === 0) throw new KeyImportError('the JWK Set has no keys')
    const out: VerifyKey[] = []
    for (const [i, jwk] of jwks.entries()) {
      if (typeof jwk !== 'object' || jwk === null) {
        throw new KeyImportError(`keys[${i}] is not a JWK object`)
      }
      try {
        out.push(...(await importPublicJwk(jwk as JWK, allowed)))
      } catch (e) {
        throw new KeyImportError(
          Array.isArray(set.keys) ? `keys[${i}]: ${(e as Error).message}` : (e as Error).message,
        )
      }
    }
    return out
  }
  const blocks = trimmed.match(/-----BEGIN [A-Z ]+-----[\s\S]+?-----END [A-Z ]+-----/g)
  if (blocks === null) {
    throw new KeyImportError('expected a PEM public key or certificate, a JWK, or a JWK Set')
  }
  const out: VerifyKey[] = []
  for (const block of blocks) out.push(...(await importPem(block, allowed)))
  return out
}

/** The distinct algorithms of a key list, for the start-up line: `RS256,PS256`. */
export function describeKeys(keys: readonly VerifyKey[]): string {
  return [...new Set(keys.map((k) => k.alg))].join(',')
}
