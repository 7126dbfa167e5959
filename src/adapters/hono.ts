/**
 * @module A Hono middleware over `createVerifier`: requests the configuration allows go on to
 * the app's handlers, which find the verified claims with `c.get('jwtgate')`; refused ones get
 * jwtgate's own answer (401 with `WWW-Authenticate`, 403, 404; problem+json). Hono is not a
 * dependency: the middleware uses only what every Hono version gives a middleware.
 *
 * @example
 * import { Hono } from 'hono'
 * import { createVerifier, loadConfig } from 'jwtgate'
 * import { jwtgate, type JwtgateVariables } from 'jwtgate/hono'
 *
 * const verifier = createVerifier(await loadConfig(env, { local: true }))
 * const app = new Hono<{ Variables: JwtgateVariables }>()
 * app.use('*', jwtgate(verifier))
 * app.get('/orders/:id', (c) => c.json({ order: c.req.param('id'), for: c.get('jwtgate').claims?.sub }))
 */
import type { RequestVerifier, Verified } from '../core/guard.ts'

/** What the middleware sets: `c.get('jwtgate')`. */
export interface JwtgateVariables {
  /** The verified claims, route and route parameters of the request. */
  jwtgate: Verified
}

/**
 * The part of Hono's context the middleware uses (any Hono `Context` whose variables include
 * `JwtgateVariables` fits it).
 */
interface Context {
  /** The request; the middleware reads `raw`, the web `Request`. */
  readonly req: { readonly raw: Request }
  /** Where the middleware stores what it verified. */
  set(key: 'jwtgate', value: Verified): void
}

export type { Context as JwtgateContext }

/**
 * A Hono middleware that checks each request with `verifier`: an allowed request goes on to the
 * next handler with `c.get('jwtgate')` set; a refused one is answered with the verifier's
 * response (401, 403, 404, 503; problem+json) and never reaches the next handler. Pass the same
 * verifier for the app's life; call `verifier.close()` when the app stops.
 *
 * @example
 * import { Hono } from 'hono'
 * import { createVerifier, loadConfig } from 'jwtgate'
 * import { jwtgate, type JwtgateVariables } from 'jwtgate/hono'
 *
 * const verifier = createVerifier(await loadConfig(process.env, { local: true }))
 * const app = new Hono<{ Variables: JwtgateVariables }>()
 * app.use('*', jwtgate(verifier))
 * app.get('/me', (c) => c.json({ sub: c.get('jwtgate').claims?.sub }))
 */
export function jwtgate(
  verifier: RequestVerifier,
): (c: Context, next: () => Promise<void>) => Promise<Response | void> {
  return async (c, next) => {
    const verified = await verifier.verify(c.req.raw)
    if (verified instanceof Response) return verified
    c.set('jwtgate', verified)
    await next()
  }
}
