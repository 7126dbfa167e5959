/**
 * @module The demo's upstream: answers every request with what it received, so a user sees the
 * identity headers the gateway added and the ones it removed.
 */

/** Echoes method, path, query and headers as JSON; the body is counted, not stored. */
export async function echo(request: Request): Promise<Response> {
  const url = new URL(request.url)
  let bodyBytes = 0
  if (request.body !== null) {
    for await (const chunk of request.body) {
      bodyBytes += chunk.byteLength
    }
  }
  const headers: Record<string, string> = {}
  request.headers.forEach((value, name) => {
    headers[name] = value
  })
  const body = {
    message: 'Hello from the demo upstream',
    method: request.method,
    path: url.pathname,
    query: url.search,
    headers,
    bodyBytes,
  }
  return new Response(JSON.stringify(body, null, 2) + '\n', {
    headers: { 'content-type': 'application/json' },
  })
}
