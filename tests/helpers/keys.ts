/** Real keys and tokens made with jose, for tests. */
import { exportJWK, exportSPKI, generateKeyPair, type JWK, type JWTPayload, SignJWT } from 'jose'

type JoseKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey']

export interface KeyPair {
  readonly alg: string
  readonly privateKey: JoseKey
  readonly publicKey: JoseKey
  readonly publicJwk: JWK
  readonly spki: string
}

const cache = new Map<string, Promise<KeyPair>>()

async function make(alg: string, kid?: string): Promise<KeyPair> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true })
  const jwk = await exportJWK(publicKey)
  return {
    alg,
    privateKey,
    publicKey,
    publicJwk: kid ? { ...jwk, kid } : jwk,
    spki: await exportSPKI(publicKey),
  }
}

/** A fresh key pair (RSA generation is slow: `shared` reuses one per alg and kid in a run). */
export function keyPair(alg: string, kid?: string, shared = true): Promise<KeyPair> {
  if (!shared) return make(alg, kid)
  const id = `${alg}/${kid ?? ''}`
  if (!cache.has(id)) cache.set(id, make(alg, kid))
  return cache.get(id)!
}

/** A random secret of `bytes` bytes, and its `base64:` configuration form. */
export function secret(bytes = 32): { raw: Uint8Array; config: string } {
  const raw = crypto.getRandomValues(new Uint8Array(bytes))
  return { raw, config: `base64:${btoa(String.fromCharCode(...raw))}` }
}

export interface SignOptions {
  readonly alg: string
  readonly key: JoseKey | Uint8Array
  readonly kid?: string
  readonly header?: Record<string, unknown>
  /** Seconds from now; default 3600. `null` omits exp. */
  readonly expiresIn?: number | null
}

/** Signs claims into a compact JWS. */
export function sign(claims: JWTPayload, options: SignOptions): Promise<string> {
  const now = Math.floor(Date.now() / 1000)
  const jwt = new SignJWT({ iat: now, ...claims }).setProtectedHeader({
    alg: options.alg,
    ...(options.kid ? { kid: options.kid } : {}),
    ...options.header,
  })
  if (options.expiresIn !== null && claims.exp === undefined) {
    jwt.setExpirationTime(now + (options.expiresIn ?? 3600))
  }
  return jwt.sign(options.key)
}

/** base64url of a JSON value or string, for hand-built tokens. */
export function b64url(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value)
  const bytes = new TextEncoder().encode(text)
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(
    /=+$/,
    '',
  )
}
