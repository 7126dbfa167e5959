/**
 * @module The references steps.ts measures jwtgate against, in one process: bun-floor's
 * per-request work (the shared harness's peer without its server: no authentication, only what
 * every correct proxy must do), and hand-written minimal JWT gateways that add to it, level by
 * level, the least each of jwtgate's duties takes — written for speed, with none of jwtgate's
 * structure. What jwtgate costs above the last level is its own; what that level costs above
 * bun-floor is what any gateway with those duties pays on this runtime.
 */

/** The stub upstream steps.ts answers every handler with. */
export type Upstream = (url: string, init: RequestInit) => Promise<Response>

/** A handler to measure, with its row's label. */
export interface Reference {
  readonly label: string
  readonly fetch: (request: Request) => Promise<Response>
}

const HOP_BY_HOP_PREFIX = 'proxy-'

/** bun-floor's: Connection, the names it lists, the other hop-by-hop fields; one pass over the names. */
function dropHopByHop(h: Headers): void {
  let drop: string[] | undefined
  for (const name of h.keys()) {
    switch (name) {
      case 'connection':
      case 'keep-alive':
      case 'te':
      case 'trailer':
      case 'transfer-encoding':
      case 'upgrade':
        ;(drop ??= []).push(name)
        break
      default:
        if (name.startsWith(HOP_BY_HOP_PREFIX)) (drop ??= []).push(name)
    }
  }
  if (drop === undefined) return
  const connection = h.get('connection')
  if (connection !== null) {
    for (const listed of connection.split(',')) {
      const n = listed.trim()
      if (n !== '') drop.push(n)
    }
  }
  for (const name of drop) h.delete(name)
}

/** bun-floor's edits of the request's headers, with `user` as the identity; the request id. */
function editRequest(h: Headers, user: string): string {
  const id = crypto.randomUUID()
  const host = h.get('host')
  dropHopByHop(h)
  h.delete('host')
  h.delete('authorization')
  h.set('x-forwarded-for', '192.0.2.7')
  h.set('x-forwarded-proto', 'http')
  if (host !== null) h.set('x-forwarded-host', host)
  h.set('x-request-id', id)
  h.set('x-user-id', user)
  return id
}

// --- the minimal gateways' state: built once, as a gateway's compiled configuration is -------

/** Upstream deadlines: preallocated slots a sweep would watch (bench/peers/bun-floor.ts's way). */
const SLOTS = 4096
const slotControllers: (AbortController | undefined)[] = new Array(SLOTS).fill(undefined)
const slotClients: (Request | undefined)[] = new Array(SLOTS).fill(undefined)
const slotDeadlines = new Float64Array(SLOTS)
const freeSlots: number[] = []
for (let i = SLOTS - 1; i >= 0; i--) freeSlots.push(i)

/** Frees `slot` unless a sweep took it for another request meanwhile. */
function release(slot: number, controller: AbortController): void {
  if (slotControllers[slot] === controller) {
    slotControllers[slot] = undefined
    slotClients[slot] = undefined
    freeSlots.push(slot)
  }
}

/** One route table entry: a compiled pattern and its counters (by status class). */
interface Route {
  readonly name: string
  readonly pattern: RegExp
  readonly requests: number[]
}
/** The harness's configuration: one route for every path. */
const ROUTES: readonly Route[] = [{
  name: 'default',
  pattern: /^\/.*$/,
  requests: [0, 0, 0, 0, 0, 0],
}]

/** A request-duration histogram, as Prometheus keeps one: cumulative on render, counts here. */
const BOUNDS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 5]
const durationCounts = new Array<number>(BOUNDS.length + 1).fill(0)
let durationSum = 0
function observe(seconds: number): void {
  let i = 0
  while (i < BOUNDS.length && seconds > BOUNDS[i]!) i++
  durationCounts[i]!++
  durationSum += seconds
}

/** Client headers that never go upstream whatever their spelling: the claim header, here. */
const STRIP = new Set(['x-user-id'])
const MAX_HEADER_BYTES = 64 * 1024
/** One request's header pass: its size, and the client's copies of stripped names. */
interface Pass {
  bytes: number
  drop: string[] | undefined
}
function visit(this: Pass, value: string, name: string): void {
  this.bytes += name.length + value.length + 4
  if (STRIP.has(name) || (name.includes('_') && STRIP.has(name.replaceAll('_', '-')))) {
    ;(this.drop ??= []).push(name)
  }
}

/**
 * bun-floor's work, and the minimal JWT gateways at `levels` 1–3 (each with the duties of those
 * below): 1, a cached token and an abort per upstream request; 2, a route and the request's
 * metrics; 3, one pass over the request's headers (the 431 cap, the client's copies of the claim
 * header in any spelling).
 */
export function references(upstream: Upstream, token: string): Reference[] {
  const shared = new AbortController()
  const verified = new Map<string, { readonly sub: string; readonly exp: number }>([
    [token, { sub: 'bench-user', exp: Math.floor(Date.now() / 1000) + 86_400 }],
  ])

  function floor(req: Request): Promise<Response> {
    const id = editRequest(req.headers, 'anonymous')
    const url = req.url
    const slash = url.indexOf('/', url.indexOf('://') + 3)
    const init = {
      method: req.method,
      headers: req.headers,
      body: req.body,
      redirect: 'manual',
      decompress: false,
      signal: shared.signal,
    } as RequestInit
    return upstream('http://127.0.0.1:9' + url.slice(slash), init).then((res) => {
      dropHopByHop(res.headers)
      res.headers.set('x-request-id', id)
      return res
    })
  }

  function minimal(req: Request, level: number): Promise<Response> {
    const started = level >= 2 ? performance.now() : 0
    const h = req.headers
    const url = req.url
    const slash = url.indexOf('/', url.indexOf('://') + 3)
    let route: Route | undefined
    if (level >= 2) {
      const q = url.indexOf('?', slash)
      const path = q < 0 ? url.slice(slash) : url.slice(slash, q)
      for (const r of ROUTES) {
        if (r.pattern.test(path)) {
          route = r
          break
        }
      }
      if (route === undefined) return Promise.resolve(new Response(null, { status: 404 }))
    }
    if (level >= 3) {
      const pass: Pass = { bytes: 0, drop: undefined }
      h.forEach(visit, pass)
      if (pass.bytes > MAX_HEADER_BYTES) {
        return Promise.resolve(new Response(null, { status: 431 }))
      }
      if (pass.drop !== undefined) { for (const name of pass.drop) h.delete(name) }
    }
    const authorization = h.get('authorization')
    const found = authorization !== null && authorization.startsWith('Bearer ')
      ? authorization.slice(7)
      : ''
    const entry = verified.get(found)
    if (entry === undefined || entry.exp * 1000 <= Date.now()) {
      return Promise.resolve(new Response(null, { status: 401 }))
    }
    const id = editRequest(h, entry.sub)
    const controller = new AbortController()
    const slot = freeSlots.pop()!
    slotControllers[slot] = controller
    slotClients[slot] = req
    slotDeadlines[slot] = performance.now() + 30_000
    const init = {
      method: req.method,
      headers: h,
      body: req.body,
      redirect: 'manual',
      decompress: false,
      signal: controller.signal,
    } as RequestInit
    return upstream('http://127.0.0.1:9' + url.slice(slash), init).then((res) => {
      release(slot, controller)
      dropHopByHop(res.headers)
      res.headers.set('x-request-id', id)
      if (route !== undefined) {
        route.requests[(res.status / 100) | 0]!++
        observe((performance.now() - started) / 1000)
      }
      return res
    })
  }

  return [
    { label: "bun-floor's per-request work", fetch: floor },
    { label: '… and a cached token, an abort per request', fetch: (r) => minimal(r, 1) },
    { label: '… and a route, the request’s metrics', fetch: (r) => minimal(r, 2) },
    {
      label: '… and a header pass (the 431 cap, claim headers’ copies)',
      fetch: (r) => minimal(r, 3),
    },
  ]
}

/** What the histogram holds, so that no run can optimise it away. */
export function observed(): number {
  return durationSum + durationCounts.reduce((a, b) => a + b, 0)
}
