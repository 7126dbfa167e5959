// deno-floor: Deno.serve fetch-handler reverse proxy with NO authentication that does only what
// every correct gateway must do on each request, in Deno's API: the Deno counterpart of
// bun-floor.ts, the reference for "what a correct proxy costs on Deno" (the shared harness's
// deno-passthrough copies the client's headers and returns the upstream response as it is).
// - request: the client's Host, Authorization and hop-by-hop fields left out (headers built by
//   appending: Deno's Headers are its own JavaScript, and appending what is kept is no slower
//   than copying and deleting); X-Forwarded-For/-Proto/-Host, X-Request-Id and the identity
//   header X-User-Id set; the path cut from req.url without parsing a URL.
// - upstream: redirect manual, request body streamed, aborted after 30 to 31 s (one shared
//   AbortController per second, as bun-floor; a signal on Deno's fetch costs ~2.8 µs of CPU per
//   request here, whichever way it is made).
// - response: Deno's fetch responses have immutable headers, so the response is a new one over
//   the upstream's body stream, its hop-by-hop fields left out and X-Request-Id set.
// Run: deno run -A bench/peers/deno-floor.ts (BENCH_UPSTREAM, BENCH_PORT; bench/run.sh starts it
// with CONFIGS=deno-floor).
const upstream = new URL(Deno.env.get('BENCH_UPSTREAM') ?? 'http://127.0.0.1:18080').origin
const TIMEOUT_MS = Number(Deno.env.get('BENCH_TIMEOUT_MS') ?? 30_000)

let current = new AbortController()
const retired: { ctrl: AbortController; until: number }[] = []
setInterval(() => {
  const now = performance.now()
  retired.push({ ctrl: current, until: now + TIMEOUT_MS })
  current = new AbortController()
  while (retired.length > 0 && retired[0]!.until <= now) {
    retired.shift()!.ctrl.abort(new DOMException('upstream timeout', 'TimeoutError'))
  }
}, 1000)

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'proxy-connection',
  'proxy-authorization',
  'proxy-authenticate',
])

/** Names the Connection field lists, lower-cased (none for most messages). */
function listed(connection: string | null): Set<string> | undefined {
  if (connection === null) return undefined
  const names = new Set<string>()
  for (const item of connection.split(',')) {
    const name = item.trim().toLowerCase()
    if (name !== '') names.add(name)
  }
  return names.size > 0 ? names : undefined
}

interface Pass {
  readonly out: Headers
  readonly drop: Set<string> | undefined
}

function keepRequest(this: Pass, value: string, name: string): void {
  if (
    name === 'host' || name === 'authorization' || name === 'x-user-id' ||
    name.startsWith('x-forwarded-') || name === 'x-request-id' || HOP_BY_HOP.has(name) ||
    this.drop?.has(name)
  ) return
  this.out.append(name, value)
}

function keepResponse(this: Pass, value: string, name: string): void {
  if (HOP_BY_HOP.has(name) || this.drop?.has(name)) return
  this.out.append(name, value)
}

Deno.serve(
  {
    hostname: '127.0.0.1',
    port: Number(Deno.env.get('BENCH_PORT') ?? 18088),
    onListen() {},
  },
  async (req, info) => {
    const id = crypto.randomUUID()
    const incoming = req.headers
    const headers = new Headers()
    incoming.forEach(keepRequest, { out: headers, drop: listed(incoming.get('connection')) })
    headers.append('x-forwarded-for', (info.remoteAddr as Deno.NetAddr).hostname)
    headers.append('x-forwarded-proto', 'http')
    const host = incoming.get('host')
    if (host !== null) headers.append('x-forwarded-host', host)
    headers.append('x-request-id', id)
    headers.append('x-user-id', 'anonymous')
    const url = req.url
    const slash = url.charCodeAt(0) === 47 ? 0 : url.indexOf('/', url.indexOf('://') + 3)
    let res: Response
    try {
      res = await fetch(upstream + (slash < 0 ? '/' : url.slice(slash)), {
        method: req.method,
        headers,
        body: req.body,
        redirect: 'manual',
        signal: current.signal,
      })
    } catch (e) {
      const status = (e as Error)?.name === 'TimeoutError' ? 504 : 502
      return new Response(null, { status, headers: { 'x-request-id': id } })
    }
    const out = new Headers()
    res.headers.forEach(keepResponse, { out, drop: listed(res.headers.get('connection')) })
    out.set('x-request-id', id)
    return new Response(res.body, { status: res.status, statusText: res.statusText, headers: out })
  },
)
