/**
 * @module Deadlines for upstream requests without a timer or a combined AbortSignal per request
 * (both measurably slow down Bun's fetch): every request in flight is registered, and one shared
 * sweep, running only while requests are in flight, aborts those past their deadline or whose
 * client went away.
 */

/** Marks an abort caused by the upstream timeout. */
export const TIMED_OUT = new Error('upstream header timeout')
/** Marks an abort caused by the client disconnecting. */
export const CLIENT_GONE = new Error('client disconnected')

interface Pending {
  readonly controller: AbortController
  readonly client: AbortSignal
  readonly deadline: number
}

const SWEEP_MS = 50
const pending = new Set<Pending>()
let sweeper: ReturnType<typeof setInterval> | undefined

function sweep(): void {
  const now = performance.now()
  for (const p of pending) {
    if (p.client.aborted) p.controller.abort(CLIENT_GONE)
    else if (now >= p.deadline) p.controller.abort(TIMED_OUT)
    else continue
    pending.delete(p)
  }
  if (pending.size === 0 && sweeper !== undefined) {
    clearInterval(sweeper)
    sweeper = undefined
  }
}

/**
 * Registers an upstream request: its controller is aborted once `timeoutMs` passed (within the
 * sweep interval) or once `client` aborts. Call the returned function when headers arrived.
 */
export function watchDeadline(controller: AbortController, client: AbortSignal, timeoutMs: number): () => void {
  const entry: Pending = { controller, client, deadline: performance.now() + timeoutMs }
  pending.add(entry)
  if (sweeper === undefined) sweeper = setInterval(sweep, Math.min(SWEEP_MS, Math.max(1, timeoutMs)))
  return () => pending.delete(entry)
}
