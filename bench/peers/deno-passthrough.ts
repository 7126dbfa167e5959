// deno-passthrough: Deno.serve + fetch, no auth — the Deno runtime's own proxy ceiling (as the
// shared harness's): the client's headers copied but Host, the upstream's response returned as
// it is. Run: deno run -A bench/peers/deno-passthrough.ts (BENCH_UPSTREAM, BENCH_PORT).
const upstream = new URL(Deno.env.get('BENCH_UPSTREAM') ?? 'http://127.0.0.1:18080').origin

Deno.serve(
  {
    hostname: '127.0.0.1',
    port: Number(Deno.env.get('BENCH_PORT') ?? 18087),
    onListen() {},
  },
  (req) => {
    const url = new URL(req.url)
    const headers = new Headers(req.headers)
    headers.delete('host')
    return fetch(upstream + url.pathname + url.search, {
      method: req.method,
      headers,
      body: req.body,
      redirect: 'manual',
    })
  },
)
