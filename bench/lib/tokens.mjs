/**
 * @module Keys and tokens for one run, made with node:crypto only: an HS256 secret, an RS256
 * 2048-bit key pair, one token per algorithm for the "single" scenario, a pool of distinct ones,
 * and the bad tokens every configuration must refuse. Token files are one token a line, for wrk.
 */
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'

const b64url = (bytes) => Buffer.from(bytes).toString('base64url')
const segment = (value) => b64url(JSON.stringify(value))

/** A compact JWS; `key` is a secret string (HS256), a private KeyObject (RS256) or null (none). */
export function sign(alg, claims, key) {
  const input = `${segment({ alg, typ: 'JWT' })}.${segment(claims)}`
  if (alg === 'none') return `${input}.`
  const signature = alg === 'HS256'
    ? crypto.createHmac('sha256', key).update(input).digest()
    : crypto.sign('sha256', Buffer.from(input), key)
  return `${input}.${b64url(signature)}`
}

/** Claims a real access token carries; `jti` makes every pool token distinct. */
function claims(sub, now, ttlSec = 6 * 3600) {
  return {
    iss: 'https://issuer.bench.test',
    aud: 'bench-api',
    sub,
    scope: 'read write',
    iat: now,
    nbf: now - 60,
    exp: now + ttlSec,
    jti: crypto.randomUUID(),
  }
}

/**
 * Tokens a gateway must answer with 401. The last one is each algorithm's classic confusion: an
 * RS256 token where HS256 is expected, and for RS256 an HS256 token whose HMAC secret is the
 * public key's PEM (RFC 8725 §2.1).
 */
function badTokens(alg, good, now, keys, other) {
  const [head, body] = good.split('.')
  const forged = segment({
    ...JSON.parse(Buffer.from(body, 'base64url').toString()),
    sub: 'admin',
  })
  return {
    'no token': null,
    garbage: 'not-a.jwt-token.at-all',
    'tampered payload': `${head}.${forged}.${good.split('.')[2]}`,
    'bad signature': `${head}.${body}.${b64url(crypto.randomBytes(alg === 'HS256' ? 32 : 256))}`,
    'other key': sign(alg, claims('user-0', now), other[alg]),
    expired: sign(
      alg,
      { ...claims('user-0', now - 7200), exp: now - 3600 },
      keys[alg],
    ),
    'alg none': sign('none', claims('user-0', now), null),
    'alg confusion': alg === 'HS256'
      ? sign('RS256', claims('user-0', now), keys.RS256)
      : sign('HS256', claims('user-0', now), keys.publicPem),
  }
}

/** Generates everything into `dir`; returns the key material, tokens and token-file paths. */
export function makeTokens(dir, poolSize) {
  fs.mkdirSync(dir, { recursive: true })
  const now = Math.floor(Date.now() / 1000)
  const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 })
  const publicPem = rsa.publicKey.export({ type: 'spki', format: 'pem' })
  const keys = {
    HS256: crypto.randomBytes(32).toString('hex'),
    RS256: rsa.privateKey,
    publicPem,
  }
  const other = {
    HS256: crypto.randomBytes(32).toString('hex'),
    RS256: crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey,
  }
  fs.writeFileSync(path.join(dir, 'rsa-public.pem'), publicPem)

  const out = {
    secret: keys.HS256,
    publicPem,
    single: {},
    pool: {},
    bad: {},
    files: {},
  }
  for (const alg of ['HS256', 'RS256']) {
    const single = sign(alg, claims('user-00000', now), keys[alg])
    const pool = Array.from(
      { length: poolSize },
      (_, i) =>
        sign(
          alg,
          claims(`user-${String(i + 1).padStart(5, '0')}`, now),
          keys[alg],
        ),
    )
    out.single[alg] = single
    out.pool[alg] = pool
    out.bad[alg] = badTokens(alg, single, now, keys, other)
    out.files[alg] = {
      single: path.join(dir, `${alg}-single.txt`),
      pool: path.join(dir, `${alg}-pool.txt`),
    }
    fs.writeFileSync(out.files[alg].single, `${single}\n`)
    fs.writeFileSync(out.files[alg].pool, `${pool.join('\n')}\n`)
  }
  return out
}

/** The unverified `sub` of a token, to check what the upstream was told. */
export const subOf = (token) =>
  JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).sub
