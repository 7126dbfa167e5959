/**
 * Hand-built tokens and keys for the security corpus (not collected: no `.test.`): the bytes
 * jose would refuse to produce (duplicate members, `alg: none`, psychic signatures, HMAC with
 * any key including an empty one or a public key's PEM) and a self-signed X.509 certificate for
 * an attacker's `x5c`.
 */
import { createHmac } from 'node:crypto'

const encoder = new TextEncoder()

/** base64url of raw bytes. */
export function b64urlBytes(bytes: Uint8Array): string {
  let bin = ''
  for (const b of bytes) bin += String.fromCharCode(b)
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
}

/** base64url of a JSON text given verbatim (so that duplicate names and escapes survive). */
export function b64urlText(text: string): string {
  return b64urlBytes(encoder.encode(text))
}

/** A segment: an object is JSON-serialised, a string is taken as the exact JSON text. */
function segment(part: string | Record<string, unknown>): string {
  return b64urlText(typeof part === 'string' ? part : JSON.stringify(part))
}

/** `header.payload` with the header and payload JSON given as objects or exact texts. */
export function signingInput(
  header: string | Record<string, unknown>,
  payload: string | Record<string, unknown>,
): string {
  return `${segment(header)}.${segment(payload)}`
}

/** An HMAC-signed compact JWS over exactly these header and payload texts, with any key. */
export function hmacToken(
  header: string | Record<string, unknown>,
  payload: string | Record<string, unknown>,
  key: Uint8Array | string,
  hash: 'sha256' | 'sha384' | 'sha512' = 'sha256',
): string {
  const input = signingInput(header, payload)
  const mac = createHmac(
    hash,
    typeof key === 'string' ? encoder.encode(key) : key,
  ).update(input).digest()
  return `${input}.${b64urlBytes(new Uint8Array(mac))}`
}

/** Seconds since the epoch. */
export const nowSec = () => Math.floor(Date.now() / 1000)

// --- DER, just enough for one self-signed certificate ---------------------------------------

function derLength(n: number): number[] {
  if (n < 0x80) return [n]
  const bytes: number[] = []
  for (let v = n; v > 0; v >>= 8) bytes.unshift(v & 0xff)
  return [0x80 | bytes.length, ...bytes]
}

function tlv(tag: number, ...contents: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const body = new Uint8Array(contents.reduce((n, c) => n + c.byteLength, 0))
  let at = 0
  for (const c of contents) {
    body.set(c, at)
    at += c.byteLength
  }
  return new Uint8Array([tag, ...derLength(body.byteLength), ...body])
}

function oid(dotted: string): Uint8Array {
  const [a = 0, b = 0, ...rest] = dotted.split('.').map(Number)
  const out = [a * 40 + b]
  for (const n of rest) {
    const groups: number[] = []
    for (let v = n;; v = Math.floor(v / 128)) {
      groups.unshift(v % 128)
      if (v < 128) break
    }
    out.push(...groups.map((g, i) => (i < groups.length - 1 ? g | 0x80 : g)))
  }
  return tlv(0x06, new Uint8Array(out))
}

/** A DER INTEGER from unsigned big-endian bytes. */
function derInteger(bytes: Uint8Array): Uint8Array {
  let start = 0
  while (start < bytes.length - 1 && bytes[start] === 0) start++
  const trimmed = bytes.subarray(start)
  return tlv(0x02, (trimmed[0] ?? 0) & 0x80 ? new Uint8Array([0, ...trimmed]) : trimmed)
}

const seq = (...c: Uint8Array[]) => tlv(0x30, ...c)
const utcTime = (d: Date) =>
  tlv(0x17, encoder.encode(`${d.toISOString().slice(2, 19).replace(/[-T:]/g, '')}Z`))
const name = (cn: string) => seq(tlv(0x31, seq(oid('2.5.4.3'), tlv(0x0c, encoder.encode(cn)))))

/**
 * A self-signed X.509 v3 certificate (DER) for an attacker's key pair: ECDSA P-256 or RSA
 * (RSASSA-PKCS1-v1_5, SHA-256). Real enough for `importX509`; the gateway must never look at it.
 */
export async function selfSignedCertificate(
  keys: { publicKey: CryptoKey; privateKey: CryptoKey },
  cn = 'attacker',
): Promise<Uint8Array> {
  const ec = keys.privateKey.algorithm.name === 'ECDSA'
  const sigAlg = ec ? seq(oid('1.2.840.10045.4.3.2')) : seq(oid('1.2.840.113549.1.1.11'), tlv(0x05))
  const spki = new Uint8Array(await crypto.subtle.exportKey('spki', keys.publicKey))
  const now = Date.now()
  const tbs = seq(
    tlv(0xa0, derInteger(new Uint8Array([2]))),
    derInteger(crypto.getRandomValues(new Uint8Array(8))),
    sigAlg,
    name(cn),
    seq(utcTime(new Date(now - 86_400_000)), utcTime(new Date(now + 86_400_000))),
    name(cn),
    spki,
  )
  const raw = new Uint8Array(
    await crypto.subtle.sign(
      ec ? { name: 'ECDSA', hash: 'SHA-256' } : { name: 'RSASSA-PKCS1-v1_5' },
      keys.privateKey,
      tbs as Uint8Array<ArrayBuffer>,
    ),
  )
  const signature = ec ? seq(derInteger(raw.subarray(0, 32)), derInteger(raw.subarray(32))) : raw
  return seq(tbs, sigAlg, tlv(0x03, new Uint8Array([0, ...signature])))
}

/** Standard base64 (with padding), as `x5c` carries certificates. */
export function base64(bytes: Uint8Array): string {
  let bin = ''
  for (const b of bytes) bin += String.fromCharCode(b)
  return btoa(bin)
}

/** The order n of the P-256 group (FIPS 186-4 D.1.2.3), big-endian. */
export const P256_ORDER = Uint8Array.from(
  'ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551'.match(/../g)!.map((h) =>
    parseInt(h, 16)
  ),
)
