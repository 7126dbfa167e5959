/**
 * @module The gateway's own answers: `/healthz` (alive) and `/readyz` (ready to serve: every key
 * source has keys, and not draining), on the main listener without a token and on the admin
 * listener, and `/metrics` on the admin listener only.
 */
import { isLoopbackHost } from './auth/fetch-json.ts'
import { BadRequestError } from './errors.ts'
import type { Metrics } from './metrics.ts'
import { rawPath } from './routing/path.ts'

const JSON_HEADERS = { 'content-type': 'application/json', 'cache-control': 'no-store' }

/** The field an admin listener's failure is logged with (`internal_error`, `listener=admin`). */
export const ADMIN_LISTENER = Object.freeze({ listener: 'admin' })

/** True for a health probe the main listener answers itself. */
export function isHealthProbe(method: string, path: string): boolean {
  return (path === '/healthz' || path === '/readyz') && (method === 'GET' || method === 'HEAD')
}

/** `/healthz` is 200 while the process runs; `/readyz` 200 when `ready`, else 503. */
export function healthResponse(
  path: string,
  requestId: string,
  ready: boolean,
  draining: boolean,
): Response {
  const ok = path === '/healthz' || ready
  const status = path === '/healthz' ? 'ok' : draining ? 'draining' : ok ? 'ok' : 'starting'
  const body = JSON.stringify({ status })
  return new Response(body, {
    status: ok ? 200 : 503,
    // ASCII only: its length is its size (and the access log reports it).
    headers: { ...JSON_HEADERS, 'content-length': String(body.length), 'x-request-id': requestId },
  })
}

/** The admin listener: `/metrics`, `/healthz`, `/readyz`; 404 otherwise. */
export function adminResponse(
  request: Request,
  metrics: Metrics,
  ready: boolean,
  draining: boolean,
): Response {
  // Not normalised: the admin paths are matched exactly, anything else is a 404.
  const path = rawPath(request.url)
  if (path === '/metrics') {
    return new Response(metrics.render(), {
      headers: { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' },
    })
  }
  if (path === '/healthz' || path === '/readyz') {
    return healthResponse(path, crypto.randomUUID(), ready, draining)
  }
  return new Response('not found\n', { status: 404, headers: { 'content-type': 'text/plain' } })
}

/**
 * Throws 400 `bad_host` when the admin listener is bound to loopback (`listenerHost`, the
 * default) and the request's Host names another host: a web page in the operator's browser
 * reaches 127.0.0.1 only through a name of its own re-pointed there (DNS rebinding), and could
 * read `/metrics`. A request without Host (HTTP/1.0; no browser) passes; so does any on a listener
 * bound elsewhere, where the network decides who reaches it.
 */
export function checkAdminHost(request: Request, listenerHost: string | undefined): void {
  if (listenerHost === undefined || !isLoopbackHost(listenerHost)) return
  const host = request.headers.get('host')
  if (host === null) return
  const name = host.startsWith('[')
    ? host.slice(0, host.indexOf(']') + 1)
    : host.replace(/:\d*$/, '')
  if (!isLoopbackHost(name)) {
    throw new BadRequestError(
      'bad_host',
      'This admin listener answers requests for its loopback address only (Host).',
    )
  }
}
