/** Waiting in the end-to-end and security suites (not collected: no `.test.`). */
import { sleep } from './process.ts'

/** Polls `probe` every `everyMs` until it returns true, at most `timeoutMs`; returns the elapsed ms. */
export async function pollUntil(
  probe: () => boolean | Promise<boolean>,
  timeoutMs: number,
  everyMs = 100,
): Promise<number> {
  const started = performance.now()
  for (let i = 0; i < Math.ceil(timeoutMs / everyMs); i++) {
    if (await probe()) return performance.now() - started
    await sleep(everyMs)
  }
  throw new Error(`condition not met within ${timeoutMs} ms`)
}

/** Resolves with `promise`'s value, or with `fallback` after `ms`. */
export function within<T, F>(promise: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  let timer: ReturnType<typeof setTimeout> | undefined
  return Promise.race([
    promise,
    new Promise<F>((resolve) => (timer = setTimeout(resolve, ms, fallback))),
  ]).finally(() => clearTimeout(timer))
}
