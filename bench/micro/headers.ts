/**
 * @module Upstream header building, per request: one pass over a browser-like request's ten
 * headers that drops the hop-by-hop ones, the token and the client's claim-header copy, and sets
 * X-Forwarded-* and X-Request-Id. The per-request cost a pass-through proxy does not have.
 */
import { bench, do_not_optimize, group } from 'mitata'
import { type ForwardContext, upstreamHeaders } from '../../src/core/proxy/headers.ts'
import { clientRequest, type Fixture } from './fixtures.ts'

export function headerBenches(f: Fixture): void {
  const incoming = clientRequest(f.token).headers
  const ctx: ForwardContext = {
    clientAddress: '192.0.2.7',
    proto: 'http',
    requestId: 'req-0123456789',
    trustedProxies: 0,
    keptToken: undefined,
    acceptEncoding: true,
  }
  group('upstream headers', () => {
    bench(
      'upstreamHeaders: 10 client headers',
      () => do_not_optimize(upstreamHeaders(incoming, ctx, f.cached.headerFilter)),
    )
    bench(
      'new Headers(incoming) (what a pass-through copies)',
      () => do_not_optimize(new Headers(incoming)),
    )
  })
}
