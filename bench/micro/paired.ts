/**
 * @module Two async functions timed alternately, call by call, for a ratio that noise cannot
 * bias: whatever else the machine does lands on both sides alike. mitata times each function
 * in its own stretch of time, which is right for a per-call cost but lets a burst of other work
 * fall on one side of a comparison.
 */
/**
 * The mean of the middle 80%. Async WebCrypto times are bimodal (the result arrives on the same
 * turn of the event loop, or after a thread hand-off: ~15 vs ~90 µs on a busy machine), so a
 * median jumps between the modes on small differences in their mix; a trimmed mean weighs the mix
 * and still drops the pauses (GC, preemption) at the tails.
 */
function trimmedMean(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = sorted.slice(
    Math.floor(sorted.length * 0.1),
    Math.ceil(sorted.length * 0.9),
  )
  return middle.reduce((sum, v) => sum + v, 0) / middle.length
}

async function time(fn: () => Promise<unknown>): Promise<number> {
  const started = performance.now()
  await fn()
  return performance.now() - started
}

/** ns per call of `a` and of `b` (trimmed means), over `pairs` alternating calls (order swapped each pair). */
export async function paired(
  a: () => Promise<unknown>,
  b: () => Promise<unknown>,
  pairs = 4000,
): Promise<{ a: number; b: number }> {
  for (let i = 0; i < 500; i++) await time(a).then(() => time(b)) // warm-up: JIT both first
  const ta: number[] = []
  const tb: number[] = []
  for (let i = 0; i < pairs; i++) {
    if (i % 2 === 0) {
      ta.push(await time(a))
      tb.push(await time(b))
    } else {
      tb.push(await time(b))
      ta.push(await time(a))
    }
  }
  return { a: trimmedMean(ta) * 1e6, b: trimmedMean(tb) * 1e6 }
}
