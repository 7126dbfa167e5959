/**
 * WebSocket peers for the end-to-end suites (not collected: no `.test.`): a real upstream on
 * loopback (Bun.serve) that records each handshake and close, a client that queues what it
 * receives, and a raw TCP client that completes a handshake and then reads nothing, or vanishes.
 */
import { connect, type Socket } from 'node:net'

/** What the upstream saw of one connection. */
export interface UpstreamConnection {
  readonly path: string
  readonly headers: Headers
  /** The client's offered subprotocols as the upstream received them (null: none). */
  readonly offered: string | null
  readonly messages: (string | Uint8Array)[]
  /** Bytes the upstream has sent on it (the flood path). */
  sent: number
  /** Its close, once it has closed. */
  close: { code: number; reason: string } | undefined
  readonly closed: Promise<{ code: number; reason: string }>
}

interface Data {
  conn: UpstreamConnection
  resolve: (c: { code: number; reason: string }) => void
}

interface BunWs {
  readonly data: Data
  send(data: string | Uint8Array): number
  close(code?: number, reason?: string): void
}

/**
 * A WebSocket upstream: `/echo…` echoes (choosing `chat.v1` when offered); `/bye` closes with
 * 4001 after the first message; `/hello-bye` sends `hello` and closes with 4000 `bye` as soon as
 * it is open; `/slow…` answers its handshake after 800 ms (then echoes); `/stall` reads nothing
 * (its socket paused); `/flood?mb=N` sends N
 * MiB at once, 64 KiB per message, as fast as its connection takes them.
 */
export function wsUpstream(): {
  url: string
  port: number
  connections: UpstreamConnection[]
  /** The `/slow` handshakes received (before they are answered). */
  dialled: string[]
  /** Resolves with the next connection the upstream accepts. */
  next(): Promise<UpstreamConnection>
  stop(): void
} {
  const connections: UpstreamConnection[] = []
  const dialled: string[] = []
  const waiting: ((c: UpstreamConnection) => void)[] = []
  const bun = (globalThis as unknown as {
    Bun: { serve(o: unknown): { port: number; stop(f?: boolean): void } }
  }).Bun
  const server = bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    async fetch(request: Request, srv: { upgrade(r: Request, o: unknown): boolean }) {
      if (new URL(request.url).pathname.startsWith('/slow')) {
        dialled.push(request.url)
        await new Promise((r) => setTimeout(r, 800))
      }
      const offered = request.headers.get('sec-websocket-protocol')
      const url = new URL(request.url)
      let resolve!: Data['resolve']
      const conn: UpstreamConnection = {
        path: url.pathname + url.search,
        headers: request.headers,
        offered,
        messages: [],
        sent: 0,
        close: undefined,
        closed: new Promise((r) => (resolve = r)),
      }
      const choose = offered?.split(',').map((p) => p.trim()).includes('chat.v1')
      const ok = srv.upgrade(request, {
        // Empty: Bun would otherwise answer with the first protocol offered.
        headers: { 'sec-websocket-protocol': choose ? 'chat.v1' : '' },
        data: { conn, resolve },
      })
      return ok ? undefined : new Response('not a websocket', { status: 400 })
    },
    websocket: {
      maxPayloadLength: 64 * 1024 * 1024,
      open(ws: BunWs) {
        const conn = ws.data.conn
        connections.push(conn)
        waiting.shift()?.(conn)
        // Reads nothing: the gateway must hold the client back, or cut it.
        if (conn.path.startsWith('/stall')) (ws as unknown as { pause(): void }).pause()
        if (conn.path.startsWith('/hello-bye')) {
          ws.send('hello')
          ws.close(4000, 'bye')
        }
        if (conn.path.startsWith('/flood')) {
          const mb = Number(new URL(conn.path, 'http://x').searchParams.get('mb') ?? '1')
          const chunk = new Uint8Array(64 * 1024).fill(120)
          const total = mb * 1024 * 1024
          const pump = () => {
            while (conn.sent < total && conn.close === undefined) {
              const r = ws.send(chunk)
              conn.sent += chunk.byteLength
              if (r === -1) return // back-pressure: go on at `drain`
            }
          }
          ;(ws as unknown as { pump: () => void }).pump = pump
          pump()
        }
      },
      drain(ws: BunWs) {
        ;(ws as unknown as { pump?: () => void }).pump?.()
      },
      message(ws: BunWs, message: string | Uint8Array) {
        const conn = ws.data.conn
        conn.messages.push(message)
        if (conn.path.startsWith('/bye')) ws.close(4001, 'upstream bye')
        else ws.send(message)
      },
      close(ws: BunWs, code: number, reason: string) {
        ws.data.conn.close = { code, reason }
        ws.data.resolve({ code, reason })
      },
    },
  })
  return {
    url: `http://127.0.0.1:${server.port}`,
    port: server.port,
    connections,
    dialled,
    next: () => new Promise((resolve) => waiting.push(resolve)),
    stop: () => server.stop(true),
  }
}

/** A client connection with what it has received and how it closed. */
export interface Client {
  readonly ws: WebSocket
  readonly received: (string | ArrayBuffer)[]
  /** Resolves with the next message (waits for it). */
  next(timeoutMs?: number): Promise<string | ArrayBuffer>
  readonly closed: Promise<{ code: number; reason: string; at: number }>
}

/** Opens a WebSocket to the gateway; rejects when the handshake fails. */
export function openClient(
  url: string,
  options: { protocols?: string[]; headers?: Record<string, string> } = {},
): Promise<Client> {
  const ws = new WebSocket(url.replace(/^http/, 'ws'), {
    protocols: options.protocols,
    headers: options.headers,
  } as unknown as string[])
  ws.binaryType = 'arraybuffer'
  const received: (string | ArrayBuffer)[] = []
  const waiters: ((m: string | ArrayBuffer) => void)[] = []
  ws.onmessage = (e) => {
    const w = waiters.shift()
    if (w !== undefined) w(e.data)
    else received.push(e.data)
  }
  const closed = new Promise<{ code: number; reason: string; at: number }>((resolve) => {
    ws.addEventListener('close', (e) => resolve({ code: e.code, reason: e.reason, at: Date.now() }))
  })
  return new Promise((resolve, reject) => {
    ws.onopen = () =>
      resolve({
        ws,
        received,
        closed,
        next(timeoutMs = 5000) {
          const queued = received.shift()
          if (queued !== undefined) return Promise.resolve(queued)
          return new Promise((res, rej) => {
            const timer = setTimeout(() => rej(new Error('no message')), timeoutMs)
            waiters.push((m) => {
              clearTimeout(timer)
              res(m)
            })
          })
        },
      })
    ws.onerror = () => reject(new Error('handshake failed'))
  })
}

/** A raw TCP WebSocket handshake: the response head, and the socket (then read nothing more). */
export function rawUpgrade(
  port: number,
  path: string,
  headers: Record<string, string>,
): Promise<{ head: string; status: number; socket: Socket }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    let buffered = ''
    const lines = [
      `GET ${path} HTTP/1.1`,
      `Host: 127.0.0.1:${port}`,
      'Upgrade: websocket',
      'Connection: Upgrade',
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
      'Sec-WebSocket-Version: 13',
      ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
    ]
    socket.on('error', reject)
    socket.on('connect', () => socket.write(`${lines.join('\r\n')}\r\n\r\n`))
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString('latin1')
      const end = buffered.indexOf('\r\n\r\n')
      if (end < 0) return
      socket.off('data', onData)
      // Read nothing more: the kernel's buffers fill, then the gateway's.
      socket.pause()
      const head = buffered.slice(0, end)
      resolve({ head, status: Number(head.split(' ')[1]), socket })
    }
    socket.on('data', onData)
  })
}
