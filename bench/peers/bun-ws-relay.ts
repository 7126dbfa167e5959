/**
 * bun-ws-relay: the WebSocket benchmark's reference (bench/websocket.mjs) — a bare Bun relay
 * with no authentication and no limits: the upstream dialled first (as jwtgate does, to hand on
 * its subprotocol), then the client upgraded, and every message passed on both ways with its
 * close. What is left between it and jwtgate is jwtgate's own work.
 */
const upstream = process.env.BENCH_UPSTREAM!.replace(/^http/, 'ws')

interface Pair {
  up: WebSocket
}

Bun.serve<Pair>({
  hostname: '127.0.0.1',
  port: Number(process.env.BENCH_PORT),
  async fetch(request, server) {
    const url = new URL(request.url)
    const up = new WebSocket(upstream + url.pathname + url.search)
    up.binaryType = 'arraybuffer'
    const opened = await new Promise<boolean>((resolve) => {
      up.onopen = () => resolve(true)
      up.onclose = () => resolve(false)
    })
    if (!opened) return new Response('upstream refused', { status: 502 })
    return server.upgrade(request, { data: { up } })
      ? undefined
      : new Response('not a WebSocket', { status: 400 })
  },
  websocket: {
    open(ws) {
      const up = ws.data.up
      up.onmessage = (e) => ws.send(e.data)
      up.onclose = (e) => ws.close(e.code === 1005 ? 1000 : e.code, e.reason)
    },
    message(ws, message) {
      ws.data.up.send(message)
    },
    close(ws, code, reason) {
      ws.data.up.close(code === 1005 || code === 1006 ? 1000 : code, reason)
    },
  },
})

// A module, not a script: the peers share names (tsc -p bench checks them together).
export {}
