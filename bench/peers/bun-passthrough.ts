/**
 * bun-passthrough: the smallest reverse proxy Bun's server and fetch allow, with no
 * authentication. It is the ceiling for every gateway built on Bun: what is left between it and
 * a gateway is the gateway's own work.
 */
const upstream = process.env.BENCH_UPSTREAM!

Bun.serve({
  hostname: '127.0.0.1',
  port: Number(process.env.BENCH_PORT),
  // Bun caps request bodies at 128 MB by default; a proxy streams them (bench/stream.mjs).
  maxRequestBodySize: Number.MAX_SAFE_INTEGER,
  fetch(request) {
    const url = new URL(request.url)
    const headers = new Headers(request.headers)
    headers.delete('host')
    return fetch(upstream + url.pathname + url.search, {
      method: request.method,
      headers,
      body: request.body,
      redirect: 'manual',
    })
  },
})

// A module, not a script: the peers share names (tsc -p bench checks them together).
export {}
