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
 * One upstream request: filled in by `send` (its deadline's slot and controller, the fetch in
 * flight), read by `arrived` and `upstreamFailure`. The proxy's record of the request is one
 * (Proxied), so that sending costs no object of its own.
 */
export interface UpstreamCall extends BodyState {
  /** The fetch, until it settles: resolves with the upstream response once its headers arrive. */
  pending: Promise<Response> | undefined
  slot: number
  controller: AbortController | undefined
}

/**
 * Fetches `url` with the request's method and `body` (the client's stream, possibly watched),
 * `headers`, and the runtime's `init` options; the deadline is `timeoutMs` from `sentAt` (a
 * `performance.now()` reading). `call.pending` resolves with the upstream response once its
 * headers arrive; its body still streams. Give the response to `arrived`, a rejection to
 * `upstreamFailure`. Never throws: a fetch that throws at once is a rejected `pending`.
 */
export function send(
  call: UpstreamCall,
  request: Request,
  body: ReadableStream<Uint8Array> | null,
  url: string,
  headers: Headers,
  fetch: typeof globalThis.fetch,
  init: Readonly<Record<string, unknown>>,
  timeoutMs: number,
  sentAt: number,
  upload?: Upload,
): void {
  const controller = new AbortController()
  const slot = trackDeadline(controller, request, timeoutMs, sentAt)
  call.slot = slot
  call.controller = controller
  if (upload !== undefined) {
    upload.slot = slot
    upload.controller = controller
  }
  const options: RequestInit & Record<string, unknown> = {
    ...init,
    method: request.method,
    headers,
    body,
    redirect: 'manual',
    // Aborted on the deadline or when the client goes away (deadline.ts); once headers arrived,
    // a client that goes away cancels the response body, which closes the upstream request.
    signal: controller.signal,
  }
  if (body !== null) options.duplex = 'half'
  try {
    call.pending = fetch(url, options)
  } catch (e) {
    call.pending = Promise.reject(e)
  }
}

/** The upstream's response headers arrived: the deadline's watch ends. */
export function arrived(call: UpstreamCall): void {
  untrackDeadline(call.slot, call.controller!)
  call.pending = undefined
}

/**
 * What a failed fetch of `call` for `request` means for the client: LimitError when its body went
 * over its cap or stalled, ClientClosedError when the client went away, else UpstreamError
 * (`upstream_timeout` or `upstream_unreachable`). The deadline's watch ends.
 */
export function upstreamFailure(call: UpstreamCall, request: Request, e: unknown): Error {
  const controller = call.controller!
  untrackDeadline(call.slot, controller)
  call.pending = undefined
  if (call.requestBodyEnd === 'too_large') {
    return new LimitError('payload_too_large', 'The request body is larger than allowed.')
  }
  if (call.requestBodyEnd === 'idle') {
    return new LimitError('request_timeout', 'The request body stalled.')
  }
  if (controller.signal.reason === TIMED_OUT) {
    return new UpstreamError('upstream_timeout', { cause: e })
  }
  if (controller.signal.reason === CLIENT_GONE || request.signal.aborted) {
    return new ClientClosedError({ cause: e })
  }
  return new UpstreamError('upstream_unreachable', { cause: e })
}

/**
 * `send`, `arrived` and `upstreamFailure` together: resolves with the upstream response once its
 * headers arrive; throws UpstreamError on failure or timeout, LimitError when the body went over
 * its cap or stalled, ClientClosedError when the client went away. `bodyState` is where a watched
 * body reports how it ended (body.ts).
 */
export function forward(
  request: Request,
  body: ReadableStream<Uint8Array> | null,
  url: string,
  headers: Headers,
  options: ForwardOptions,
  bodyState?: BodyState,
  upload?: Upload,
): Promise<Response> {
  const call: UpstreamCall = {
    pending: undefined,
    slot: -1,
    controller: undefined,
    requestBodyEnd: undefined,
  }
  const sentAt = options.sent ?? performance.now()
  send(
    call,
    request,
    body,
    url,
    headers,
    options.fetch,
    options.init,
    options.timeoutMs,
    sentAt,
    upload,
  )
  return call.pending!.then(
    (response) => {
      arrived(call)
      return response
    },
    (e) => {
      if (bodyState !== undefined) call.requestBodyEnd = bodyState.requestBodyEnd
      throw upstreamFailure(call, request, e)
    },
  )
}
