/**
 * bun-floor: bun-passthrough plus only what any correct gateway must add to every request, still
 * with no authentication: the client's Host and Authorization left out, X-Forwarded-For/-Proto/
 * -Host, an X-Request-Id and one identity header set, an abortable upstream request with a
 * timeout (one shared sweep over preallocated slots, the cheapest way measured), and the
 * response's hop-by-hop headers removed and its X-Request-Id set. What is left between
 * it and jwtgate is jwtgate's own work: routing, the token, the cache, policy, metrics.
 */
const upstream = process.env.BENCH_UPSTREAM!
const TIMEOUT_MS = Number(process.env.BENCH_TIMEOUT_MS ?? 30_000)
const SLOTS = 4096
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
])

const controllers: (AbortController | undefined)[] = new Array(SLOTS).fill(
  undefined,
)
const deadlines = new Float64Array(SLOTS)
const free: number[] = []
for (let i = SLOTS - 1; i >= 0; i--) free.push(i)
setInterval(() => {
  const now = performance.now()
  for (let i = 0; i < SLOTS; i++) {
    const controller = controllers[i]
    if (controller !== undefined && now >= deadlines[i]!) {
      controller.abort()
      controllers[i] = undefined
      free.push(i)
    }
  }
}, 50)

Bun.serve({
  hostname: '127.0.0.1',
  port: Number(process.env.BENCH_PORT),
  maxRequestBodySize: Number.MAX_SAFE_INTEGER,
  async fetch(request, server) {
    const url = new URL(request.url)
    const headers = new Headers(request.headers)
    const host = headers.get('host') ?? ''
    headers.delete('host')
    headers.delete('authorization')
    const requestId = crypto.randomUUID()
    headers.append('x-forwarded-for', server.requestIP(request)?.address ?? '')
    headers.append('x-forwarded-proto', 'http')
    headers.append('x-forwarded-host', host)
    headers.append('x-request-id', requestId)
    headers.append('x-user-id', 'anonymous')
    const controller = new AbortController()
    const slot = free.pop()!
    controllers[slot] = controller
    deadlines[slot] = performance.now() + TIMEOUT_MS
    let response: Response
    try {
      response = await fetch(upstream + url.pathname + url.search, {
        method: request.method,
        headers,
        body: request.body,
        redirect: 'manual',
        signal: controller.signal,
      })
    } catch {
      return new Response('bad gateway', { status: 502 })
    } finally {
      if (controllers[slot] === controller) {
        controllers[slot] = undefined
        free.push(slot)
      }
    }
    const found: string[] = []
    for (const name of response.headers.keys()) {
      if (HOP_BY_HOP.has(name)) found.push(name)
    }
    for (const name of response.headers.get('connection')?.split(',') ?? []) {
      found.push(name.trim().toLowerCase())
    }
    for (const name of found) response.headers.delete(name)
    response.headers.set('x-request-id', requestId)
    return response
  },
})

// A module, not a script: the peers share names (tsc -p bench checks them together).
export {}
