/**
 * @module Cold start: from spawn to the first 200 proxied with a valid token (so keys are loaded
 * and the upstream reached, not merely the port open), polling every 2 ms.
 */
import { get, portTaken } from './http.mjs'
import { logTail, start, stop } from './proc.mjs'

/** Milliseconds, or `{ error }`. `spec` is a `{ cmd, args, env }` from configs.mjs. */
export async function coldStart(spec, port, token, logFile) {
  if (await portTaken(port)) return { error: `port ${port} is taken` }
  const started = performance.now()
  const child = start(spec.cmd, spec.args, { env: spec.env, logFile })
  try {
    while (performance.now() - started < 20000) {
      if (child.exitInfo !== undefined) {
        return {
          error: `exited ${JSON.stringify(child.exitInfo)}: ${logTail(child)}`,
        }
      }
      const response = await get(
        port,
        '/bench/items?id=1',
        { authorization: `Bearer ${token}` },
        2000,
      )
      if (response.status === 200) return { ms: performance.now() - started }
      await new Promise((resolve) => setTimeout(resolve, 2))
    }
    return { error: 'no 200 within 20 s' }
  } finally {
    await stop(child)
  }
}
