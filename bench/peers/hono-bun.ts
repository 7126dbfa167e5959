/**
 * hono-bun: Hono's jwt middleware and its proxy helper, served by Bun. The key is imported once
 * as a CryptoKey: given a string, Hono imports it again on every request.
 */
import { Hono } from 'hono'
import { jwt } from 'hono/jwt'
import { proxy } from 'hono/proxy'

const upstream = process.env.BENCH_UPSTREAM!
const alg = process.env.BENCH_ALG as 'HS256' | 'RS256'

function spkiBytes(pem: string): Uint8Array<ArrayBuffer> {
  return Uint8Array.from(
    atob(pem.replace(/-----[A-Z ]+-----|\s/g, '')),
    (c) => c.charCodeAt(0),
  )
}

const key = alg === 'HS256'
  ? await crypto.subtle.importKey(
    'raw',
    new TextEncoder().encode(process.env.BENCH_SECRET),
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    ['verify'],
  )
  : await crypto.subtle.importKey(
    'spki',
    spkiBytes(process.env.BENCH_PUBLIC_KEY!),
    { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
    false,
    ['verify'],
  )

const app = new Hono()
app.use('*', jwt({ secret: key, alg }))
app.all('*', (c) => {
  const url = new URL(c.req.url)
  return proxy(upstream + url.pathname + url.search, {
    raw: c.req.raw,
    headers: {
      ...c.req.header(),
      host: undefined,
      authorization: undefined,
      'x-user-id': String((c.get('jwtPayload') as { sub: unknown }).sub),
    },
  })
})

Bun.serve({
  hostname: '127.0.0.1',
  port: Number(process.env.BENCH_PORT),
  fetch: app.fetch,
})
