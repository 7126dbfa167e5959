/**
 * bun-jose: bun-passthrough plus jose's jwtVerify on every request, no cache: the gateway a
 * straightforward Bun + jose implementation gets. The secret is handed to jose as bytes, the
 * way jose's documentation shows; the RSA key is imported once.
 */
import { importSPKI, jwtVerify } from 'jose'

const upstream = process.env.BENCH_UPSTREAM!
const alg = process.env.BENCH_ALG!
const key = alg === 'HS256'
  ? new TextEncoder().encode(process.env.BENCH_SECRET)
  : await importSPKI(process.env.BENCH_PUBLIC_KEY!, alg)

const unauthorized = (detail: string) =>
  Response.json({ status: 401, detail }, {
    status: 401,
    headers: { 'www-authenticate': 'Bearer error="invalid_token"' },
  })

Bun.serve({
  hostname: '127.0.0.1',
  port: Number(process.env.BENCH_PORT),
  async fetch(request) {
    const authorization = request.headers.get('authorization')
    if (authorization === null || !authorization.startsWith('Bearer ')) {
      return unauthorized('missing token')
    }
    let sub: string
    try {
      const { payload } = await jwtVerify(authorization.slice(7), key, {
        algorithms: [alg],
      })
      sub = String(payload.sub)
    } catch (e) {
      return unauthorized((e as Error).message)
    }
    const url = new URL(request.url)
    const headers = new Headers(request.headers)
    headers.delete('host')
    headers.delete('authorization')
    headers.set('x-user-id', sub)
    return fetch(upstream + url.pathname + url.search, {
      method: request.method,
      headers,
      body: request.body,
      redirect: 'manual',
    })
  },
})
