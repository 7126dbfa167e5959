/**
 * The WebSocket benchmark's upstream (bench/websocket.mjs): echoes every message; `/flood?mb=N`
 * sends N MiB in 64 KiB messages as fast as the connection takes them (Bun's back-pressure:
 * `send` returns -1, then `drain`), then closes with 1000.
 */
const CHUNK = new Uint8Array(64 * 1024).fill(120)

interface Conn {
  flood: number
  sent: number
}

Bun.serve<Conn>({
  hostname: '127.0.0.1',
  port: Number(process.env.BENCH_PORT),
  fetch(request, server) {
    const url = new URL(request.url)
    const flood = url.pathname === '/flood' ? Number(url.searchParams.get('mb') ?? 1) * 2 ** 20 : 0
    return server.upgrade(request, { data: { flood, sent: 0 } })
      ? undefined
      : new Response('a WebSocket upstream', { status: 400 })
  },
  websocket: {
    maxPayloadLength: 64 * 2 ** 20,
    open(ws) {
      if (ws.data.flood > 0) pump(ws)
    },
    drain(ws) {
      if (ws.data.flood > 0) pump(ws)
    },
    message(ws, message) {
      ws.send(message)
    },
  },
})

function pump(ws: import('bun').ServerWebSocket<Conn>): void {
  const d = ws.data
  while (d.sent < d.flood) {
    const status = ws.send(CHUNK)
    if (status === 0) return // the connection is gone
    d.sent += CHUNK.byteLength
    if (status === -1) return // buffered: go on at drain
  }
  ws.close(1000, 'done')
}
