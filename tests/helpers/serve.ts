/** A real HTTP server on 127.0.0.1 with a random port, under Bun or Deno. */

export interface TestServer {
  readonly url: string
  readonly port: number
  close(): Promise<void>
}

/** What a test server answers a request with. */
export type Handler = (request: Request) => Response | Promise<Response>

interface BunLike {
  serve(
    o: { hostname: string; port: number; idleTimeout: number; fetch: Handler },
  ): { port: number; stop(force?: boolean): Promise<void> | void }
}
interface DenoLike {
  serve(
    o: { hostname: string; port: number; onListen: (a: { port: number }) => void },
    h: Handler,
  ): { shutdown(): Promise<void> }
}

export function serve(handler: Handler): Promise<TestServer> {
  const bun = (globalThis as { Bun?: BunLike }).Bun
  if (bun !== undefined) {
    const server = bun.serve({ hostname: '127.0.0.1', port: 0, idleTimeout: 0, fetch: handler })
    return Promise.resolve({
      url: `http://127.0.0.1:${server.port}`,
      port: server.port,
      close: async () => void (await server.stop(true)),
    })
  }
  const deno = (globalThis as unknown as { Deno: DenoLike }).Deno
  return new Promise((resolve) => {
    const server = deno.serve({
      hostname: '127.0.0.1',
      port: 0,
      onListen: ({ port }) =>
        resolve({ url: `http://127.0.0.1:${port}`, port, close: () => server.shutdown() }),
    }, handler)
  })
}

/** What an upstream saw of one request. */
export interface Seen {
  readonly method: string
  readonly path: string
  readonly search: string
  readonly headers: Headers
}

/** A test server that keeps what it saw of each request. */
export type RecordingUpstream = TestServer & { readonly seen: Seen[] }

/**
 * An upstream that records every request and answers with `respond` (default: 200 JSON echo of
 * the path). `seen` lets a test assert what reached it, and that nothing did.
 */
export async function recordingUpstream(respond?: Handler): Promise<RecordingUpstream> {
  const seen: Seen[] = []
  const server = await serve((request) => {
    const url = new URL(request.url)
    seen.push({
      method: request.method,
      path: url.pathname,
      search: url.search,
      headers: request.headers,
    })
    if (respond !== undefined) return respond(request)
    return Response.json({ path: url.pathname })
  })
  return Object.assign(server, { seen })
}
