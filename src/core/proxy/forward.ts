/**
 * @module Sending the request upstream with plain fetch: bodies streamed both ways, redirects
 * passed back to the client, a timeout until the response headers (from the last chunk of a
 * watched upload the upstream took), and client disconnects propagated upstream.
 */
import { ClientClosedError, LimitError, UpstreamError } from '../errors.ts'
import type { BodyEnd } from './body.ts'
import { CLIENT_GONE, TIMED_OUT, trackDeadline, untrackDeadline, type Upload } from './deadline.ts'

export interface ForwardOptions {
  readonly fetch: typeof fetch
  /** Time allowed until the upstream's response headers. */
  readonly timeoutMs: number
  /** When the request is sent (`performance.now()`; default: now): the timeout counts from here. */
  readonly sent?: number
  /** Runtime-specific fetch options merged into every upstream request (Bun: `decompress: false`). */
  readonly init: Readonly<Record<string, unknown>>
}

/** How the request body ended, when it is watched (body.ts): a cap or an idle client explains a failed fetch. */
export interface BodyState {
  requestBodyEnd: BodyEnd | undefined
}

/**
 * Fetches `url` with the request's method and `body` (the client's stream, possibly watched).
 * Resolves with the upstream response once its headers arrive; its body still streams. Throws
 * UpstreamError on failure or timeout, LimitError when the body went over its cap or stalled.
 */
export async function forward(
  request: Request,
  body: ReadableStream<Uint8Array> | null,
  url: string,
  headers: Headers,
  options: ForwardOptions,
  bodyState?: BodyState,
  upload?: Upload,
): Promise<Response> {
  const controller = new AbortController()
  const slot = trackDeadline(controller, request, options.timeoutMs, options.sent)
  if (upload !== undefined) {
    upload.slot = slot
    upload.controller = controller
  }
  const init: RequestInit & Record<string, unknown> = {
    ...options.init,
    method: request.method,
    headers,
    body,
    redirect: 'manual',
    // Aborted on the deadline or when the client goes away (deadline.ts); once headers arrived,
    // a client that goes away cancels the response body, which closes the upstream request.
    signal: controller.signal,
  }
  if (body !== null) init.duplex = 'half'
  try {
    return await options.fetch(url, init)
  } catch (e) {
    if (bodyState?.requestBodyEnd === 'too_large') {
      throw new LimitError('payload_too_large', 'The request body is larger than allowed.')
    }
    if (bodyState?.requestBodyEnd === 'idle') {
      throw new LimitError('request_timeout', 'The request body stalled.')
    }
    if (controller.signal.reason === TIMED_OUT) {
      throw new UpstreamError('upstream_timeout', { cause: e })
    }
    if (controller.signal.reason === CLIENT_GONE || request.signal.aborted) {
      throw new ClientClosedError({ cause: e })
    }
    throw new UpstreamError('upstream_unreachable', { cause: e })
  } finally {
    untrackDeadline(slot, controller)
  }
}
