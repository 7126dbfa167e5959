/**
 * @module Sending the request upstream with plain fetch: bodies streamed both ways, redirects
 * passed back to the client, a timeout that covers connecting and waiting for response headers
 * only, and client disconnects propagated upstream.
 */
import { UpstreamError } from '../errors.ts'

export interface ForwardOptions {
  readonly fetch: typeof fetch
  /** Time allowed until the upstream's response headers. */
  readonly timeoutMs: number
  /** Runtime-specific fetch options merged into every upstream request (Bun: `decompress: false`). */
  readonly init: Readonly<Record<string, unknown>>
}

/** Marks an abort caused by the header timeout, as opposed to the client going away. */
const TIMEOUT = new Error('upstream header timeout')

function abortWithTimeout(controller: AbortController): void {
  controller.abort(TIMEOUT)
}

/**
 * Fetches `url` with the client's method and streamed body. Resolves with the upstream response
 * once its headers arrive; its body still streams. Throws UpstreamError on failure or timeout.
 */
export async function forward(request: Request, url: string, headers: Headers, options: ForwardOptions): Promise<Response> {
  const timeout = new AbortController()
  const timer = setTimeout(abortWithTimeout, options.timeoutMs, timeout)
  const body = request.body
  const init: RequestInit & Record<string, unknown> = {
    ...options.init,
    method: request.method,
    headers,
    body,
    redirect: 'manual',
    // The client's disconnect aborts the upstream request, also while the body streams.
    signal: AbortSignal.any([request.signal, timeout.signal]),
  }
  if (body !== null) init.duplex = 'half'
  try {
    return await options.fetch(url, init)
  } catch (e) {
    if (timeout.signal.aborted) throw new UpstreamError('upstream_timeout', { cause: e })
    throw new UpstreamError('upstream_unreachable', { cause: e })
  } finally {
    clearTimeout(timer)
  }
}
