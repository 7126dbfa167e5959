/**
 * @module Routing, per request: request-target normalisation (the fast path for a plain path,
 * and a path that needs decoding and dot-segment removal) and route matching (the single `/*`
 * route of an environment-only setup, and the last of twelve routes with parameters).
 */
import { bench, do_not_optimize, group } from 'mitata'
import { normalizeTarget } from '../../src/core/routing/path.ts'
import { compileRoutes, matchRoute } from '../../src/core/routing/routes.ts'

const route = (pattern: string, methods?: string[]) => ({ pattern, methods })
const ONE = compileRoutes([route('/*')])
const TWELVE = compileRoutes([
  route('/health'),
  route('/ready'),
  route('/metrics', ['GET']),
  route('/docs/*'),
  route('/public/:file'),
  route('/auth/callback', ['GET', 'POST']),
  route('/admin/*'),
  route('/api/v1/users/:id', ['GET', 'PUT', 'DELETE']),
  route('/api/v1/users/:id/orders', ['GET']),
  route('/api/v1/items/:id', ['GET']),
  route('/files/:path+'),
  route('/api/v1/orders/:id/items/:item', ['GET', 'POST']),
])

export function routingBenches(): void {
  group('request-target normalisation', () => {
    bench(
      'normalizeTarget: plain path + query',
      () =>
        do_not_optimize(
          normalizeTarget('http://gateway.test/api/orders/42?expand=items'),
        ),
    )
    bench(
      'normalizeTarget: escapes and dot segments',
      () =>
        do_not_optimize(
          normalizeTarget(
            'http://gateway.test/api/caf%c3%a9/./v1/../orders/%7e42?expand=items',
          ),
        ),
    )
  })
  group('route matching', () => {
    bench(
      'matchRoute: 1 route (/*)',
      () => do_not_optimize(matchRoute(ONE, 'GET', '/api/orders/42')),
    )
    bench(
      'matchRoute: 12th of 12, 2 params',
      () => do_not_optimize(matchRoute(TWELVE, 'GET', '/api/v1/orders/42/items/7')),
    )
    bench(
      'matchRoute: 12 routes, no match',
      () => do_not_optimize(matchRoute(TWELVE, 'GET', '/nowhere/at/all')),
    )
  })
}
