/**
 * @module Watching a streamed body without buffering it: bytes counted, a size cap enforced
 * while streaming (413 for a request body), and an idle timeout while waiting for the next chunk
 * from its source. One timer per body, re-armed only when it fires, so a chunk costs an addition
 * and a clock read.
 */

import { BadRequestError, LimitError } from '../errors.ts'
import { type Upload, uploadMoved, uploadWaiting } from './deadline.ts'

export type BodyEnd = 'done' | 'too_large' | 'idle' | 'aborted'

export interface BodyWatch {
  /** Stop with `too_large` once more than this many bytes passed (undefined: no cap). */
  readonly maxBytes: number | undefined
  /** Stop with `idle` when the source sends nothing for this long while a chunk is awaited (0: never). */
  readonly idleMs: number
  readonly now: () => number
  /** Called once, when the body ends for any reason, with the bytes that passed. */
  readonly onEnd: (bytes: number, end: BodyEnd) => void
  /** Called when the reader took a chunk, and when the body ended whole. */
  readonly onProgress?: () => void
  /** Called when the reader asks for the next chunk and the source is waited for. */
  readonly onWaiting?: () => void
}

/** Thrown into a stream that went over its size cap. */
export class BodyTooLarge extends Error {
  override readonly name = 'BodyTooLarge'
}

/** Thrown into a stream whose source stayed silent too long. */
export class BodyIdle extends Error {
  override readonly name = 'BodyIdle'
}

/** `body` as a watched stream; forward the returned one. */
export function watchBody(
  body: ReadableStream<Uint8Array>,
  watch: BodyWatch,
): ReadableStream<Uint8Array> {
  const reader = body.getReader()
  let bytes = 0
  let waitingSince: number | undefined
  let ended = false
  let timer: ReturnType<typeof setTimeout> | undefined
  const end = (how: BodyEnd) => {
    if (ended) return
    ended = true
    if (timer !== undefined) clearTimeout(timer)
    watch.onEnd(bytes, how)
  }
  return new ReadableStream<Uint8Array>({
    start(controller) {
      if (watch.idleMs <= 0) return
      const check = () => {
        timer = undefined
        if (ended) return
        const quiet = waitingSince === undefined ? 0 : watch.now() - waitingSince
        if (quiet >= watch.idleMs) {
          end('idle')
          controller.error(new BodyIdle('no data within the stream idle timeout'))
          reader.cancel().catch(() => {})
        } else timer = setTimeout(check, watch.idleMs - quiet)
      }
      timer = setTimeout(check, watch.idleMs)
    },
    async pull(controller) {
      waitingSince = watch.now()
      watch.onWaiting?.()
      let result: Awaited<ReturnType<typeof reader.read>>
      try {
        result = await reader.read()
      } catch (e) {
        end('aborted')
        controller.error(e)
        return
      }
      waitingSince = undefined
      if (ended) return
      if (result.done) {
        end('done')
        controller.close()
        watch.onProgress?.()
        return
      }
      bytes += result.value.byteLength
      if (watch.maxBytes !== undefined && bytes > watch.maxBytes) {
        end('too_large')
        controller.error(new BodyTooLarge('the body is larger than allowed'))
        reader.cancel().catch(() => {})
        return
      }
      controller.enqueue(result.value)
      watch.onProgress?.()
    },
    cancel(reason) {
      end('aborted')
      return reader.cancel(reason)
    },
  })
}

/** Where requestBody() reports the body's size and, once watched, how it ended. */
export interface RequestBodyReport {
  bytesIn: number | undefined
  requestBodyEnd: BodyEnd | undefined
}

/**
 * The request body to forward. A body with a Content-Length passes as it is (the runtime holds
 * it to that length; the cap is checked against it before anything is sent). A body without one
 * is watched for its cap and its idle time (and counted on the way), unless there is no cap and
 * the server's connection idle timeout covers idleness. A watched body moves `upload`'s deadline
 * on with every chunk the upstream takes (deadline.ts). Watching costs memory on large streams
 * (each chunk passes through JavaScript), so nothing is watched that need not be.
 */
export function requestBody(
  request: Request,
  limits: { readonly maxBodyBytes: number | undefined; readonly streamIdleMs: number },
  connectionIdleMs: number | undefined,
  now: () => number,
  report: RequestBodyReport,
  upload?: Upload,
): ReadableStream<Uint8Array> | null {
  const body = request.body
  if (body === null) return null
  const { maxBodyBytes, streamIdleMs } = limits
  const length = request.headers.get('content-length')
  if (length !== null) {
    // Digits only: a runtime that takes the field twice hands over `1500, 1500`, which Number()
    // reads as NaN — no cap would hold (Deno then sends the whole body), or the upstream fetch
    // refuses it (Bun: a 502 that is the client's doing).
    if (!/^\d{1,15}$/.test(length)) {
      throw new BadRequestError(
        'bad_content_length',
        'The Content-Length header is not one number.',
      )
    }
    const size = Number(length)
    if (maxBodyBytes !== undefined && size > maxBodyBytes) {
      throw new LimitError('payload_too_large', 'The request body is larger than allowed.')
    }
    report.bytesIn = size
    return body
  }
  if (
    maxBodyBytes === undefined && connectionIdleMs !== undefined &&
    connectionIdleMs <= streamIdleMs
  ) return body
  return watchUpload(body, maxBodyBytes, streamIdleMs, now, report, upload)
}

/**
 * `body` watched (requestBody), reporting to `report` and moving `upload`'s deadline. Its own
 * function: the callbacks would otherwise cost every call of requestBody a scope object.
 */
function watchUpload(
  body: ReadableStream<Uint8Array>,
  maxBodyBytes: number | undefined,
  streamIdleMs: number,
  now: () => number,
  report: RequestBodyReport,
  upload: Upload | undefined,
): ReadableStream<Uint8Array> {
  return watchBody(body, {
    maxBytes: maxBodyBytes,
    idleMs: streamIdleMs,
    now,
    onEnd(bytes, end) {
      report.bytesIn = bytes
      report.requestBodyEnd = end
    },
    onProgress: upload === undefined ? undefined : () => uploadMoved(upload),
    // The client's silence is the idle timeout's to judge, when there is one.
    onWaiting: upload === undefined || streamIdleMs <= 0 ? undefined : () => uploadWaiting(upload),
  })
}
