/**
 * @module The whole core per request, sockets left out: createGateway's fetch with a cached
 * token and an upstream that answers at once (a stub `fetch`). Everything jwtgate adds on top of
 * the runtime's server and fetch, in one number; compare with the pass-through's ~20 µs of CPU
 * per request in bench/run.sh.
 */
import { bench, do_not_optimize, group } from 'mitata'
import { createGateway } from '../../src/core/gateway.ts'
import { clientRequest, type Fixture } from './fixtures.ts'

const BODY = '{"ok":true,"service":"bench-upstream","items":[1,2,3]}'

/** What the CLI passes on each runtime (src/bun.ts, src/deno.ts), without importing the adapters. */
const RUNTIME = 'Deno' in globalThis
  ? { decodedEncodings: ['gzip', 'br'], headerBuild: 'append' as const }
  : { fetchInit: { decompress: false }, headerBuild: 'edit' as const, connectionIdleMs: 120_000 }

export function gatewayBenches(f: Fixture): void {
  // A sized body, as the bench's nginx upstream sends: passed on untouched, as in the binary.
  const upstream = () =>
    Promise.resolve(
      new Response(BODY, {
        headers: {
          'content-type': 'application/json',
          'content-length': String(BODY.length),
        },
      }),
    )
  const gateway = createGateway(f.config, {
    ...RUNTIME,
    fetch: upstream as unknown as typeof fetch,
  })
  group('gateway.fetch (stub upstream)', () => {
    // A new request each time, as a server hands over (under Bun the gateway edits its headers
    // into the upstream request's): its construction is part of the figure.
    bench(`${f.alg} gateway.fetch: cache hit`, async () => {
      const response = await gateway.fetch(clientRequest(f.token), {
        clientAddress: '192.0.2.7',
      })
      do_not_optimize(await response.text())
    })
  })
}
