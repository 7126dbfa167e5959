/**
 * @module Deadlines for upstream requests without a timer or a combined AbortSignal per request
 * (both measurably slow down Bun's fetch): every request in flight takes a slot in a table of
 * fixed arrays, and one shared sweep, running only while requests are in flight, aborts those past
 * their deadline or whose client went away.
 *
 * Why slots and not a Set of entries: a long-lived Set that gains and loses an entry per request
 * keeps every entry's controller alive into the old generation (measured under load on Bun: peak
 * RSS +12 MB, p99 latency ×1.6); writing into preallocated arrays does not.
 */

/** Marks an abort caused by the upstream timeout. */
export const TIMED_OUT = new Error('upstream header timeout')
/** Marks an abort caused by the client disconnecting. */
export const CLIENT_GONE = new Error('client disconnected')

const SWEEP_MS = 50

let controllers: (AbortController | undefined)[] = []
let clients: (Request | undefined)[] = []
let deadlines = new Float64Array(0)
/** Free slot numbers, used as a stack. */
const free: number[] = []
let tracked = 0
let sweeper: ReturnType<typeof setInterval> | undefined

function grow(): void {
  const old = controllers.length
  const size = old === 0 ? 256 : old * 2
  controllers = controllers.concat(new Array<undefined>(size - old).fill(undefined))
  clients = clients.concat(new Array<undefined>(size - old).fill(undefined))
  const next = new Float64Array(size)
  next.set(deadlines)
  deadlines = next
  for (let i = size - 1; i >= old; i--) free.push(i)
}

function release(slot: number): void {
  controllers[slot] = undefined
  clients[slot] = undefined
  free.push(slot)
  tracked--
}

function sweep(): void {
  const now = performance.now()
  for (let slot = 0; slot < controllers.length; slot++) {
    const controller = controllers[slot]
    if (controller === undefined) continue
    // Reading `signal` here, not at registration, spares most requests (those answered within a
    // sweep) the cost of creating it.
    if (clients[slot]!.signal.aborted) controller.abort(CLIENT_GONE)
    else if (now >= deadlines[slot]!) controller.abort(TIMED_OUT)
    else continue
    release(slot)
  }
  if (tracked === 0 && sweeper !== undefined) {
    clearInterval(sweeper)
    sweeper = undefined
  }
}

/**
 * Registers an upstream request: `controller` is aborted once `timeoutMs` passed since `sent` (a
 * `performance.now()` reading; within the sweep interval) or once the client of `request` goes
 * away. Returns the slot to give `untrackDeadline` when the response headers arrived.
 */
export function trackDeadline(
  controller: AbortController,
  request: Request,
  timeoutMs: number,
  sent: number = performance.now(),
): number {
  if (free.length === 0) grow()
  const slot = free.pop()!
  controllers[slot] = controller
  clients[slot] = request
  deadlines[slot] = sent + timeoutMs
  tracked++
  if (sweeper === undefined) {
    sweeper = setInterval(sweep, Math.min(SWEEP_MS, Math.max(1, timeoutMs)))
  }
  return slot
}

/** Ends the watch of `slot`, unless the sweep already aborted it (and reused the slot). */
export function untrackDeadline(slot: number, controller: AbortController): void {
  if (controllers[slot] === controller) release(slot)
}

/**
 * An upstream request whose body is watched (body.ts): its deadline counts from the last chunk
 * the upstream took, not from the start, so a slow upload that keeps moving is not cut by the
 * upstream timeout (its stalls are the stream idle timeout's), and the upstream then has the whole
 * timeout for its response headers — as Envoy's and Go's response-header timeouts do. `slot` and
 * `controller` are filled in once the request is tracked.
 */
export interface Upload {
  slot: number
  controller: AbortController | undefined
  readonly timeoutMs: number
}

/**
 * The upload of `upload` waits for its client's next chunk: the upstream is not to blame, and its
 * deadline stops until the chunk comes (uploadMoved) — a stall is the stream idle timeout's (408),
 * never a 504 at the upstream timeout when that is the shorter.
 */
export function uploadWaiting(upload: Upload): void {
  const controller = upload.controller
  if (controller !== undefined && controllers[upload.slot] === controller) {
    deadlines[upload.slot] = Infinity
  }
}

/** The upload of `upload` moved on (a chunk taken, or its end): its deadline starts again. */
export function uploadMoved(upload: Upload): void {
  const controller = upload.controller
  if (controller !== undefined && controllers[upload.slot] === controller) {
    deadlines[upload.slot] = performance.now() + upload.timeoutMs
  }
}
