/**
 * SocketWebSocket (src/adapters/websocket-client.ts) against a raw TCP server that answers the
 * handshake and then writes exactly the frames each test needs: fragmentation, pings, the size
 * cap, bad UTF-8, masked or reserved bits, a bad accept key, and pause/resume holding the server
 * back through TCP.
 */
import { afterEach, expect, test } from 'bun:test'
import { createHash } from 'node:crypto'
import { createServer, type Server, type Socket } from 'node:net'
import { SocketWebSocket } from '../../src/adapters/websocket-client.ts'

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'
let server: Server | undefined
afterEach(() => server?.close())

/** A server that answers the handshake (with `answer` overriding its fields), then calls `then`. */
function rawServer(
  then: (socket: Socket, request: string) => void,
  answer: (key: string) => string[] = (key) => [
    'HTTP/1.1 101 Switching Protocols',
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Accept: ${createHash('sha1').update(key + GUID).digest('base64')}`,
  ],
): Promise<number> {
  return new Promise((resolve) => {
    server = createServer((socket) => {
      let head = ''
      const onData = (chunk: Buffer) => {
        head += chunk.toString('latin1')
        const end = head.indexOf('\r\n\r\n')
        if (end < 0) return
        socket.off('data', onData)
        const key = /sec-websocket-key: (\S+)/i.exec(head)![1]!
        socket.write(`${answer(key).join('\r\n')}\r\n\r\n`)
        then(socket, head.slice(0, end))
      }
      socket.on('data', onData)
      socket.on('error', () => {})
    }).listen(0, '127.0.0.1', () => resolve((server!.address() as { port: number }).port))
  })
}

/** An unmasked server frame. */
function frame(opcode: number, payload: Uint8Array | string, fin = true, extra = 0): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload) : Buffer.from(payload)
  const len = body.length
  const head = len < 126
    ? Buffer.from([(fin ? 0x80 : 0) | extra | opcode, len])
    : Buffer.from([(fin ? 0x80 : 0) | extra | opcode, 126, len >> 8, len & 255])
  return Buffer.concat([head, body])
}

function events(ws: SocketWebSocket) {
  const messages: (string | ArrayBuffer)[] = []
  ws.addEventListener('message', (e) => messages.push((e as MessageEvent).data))
  const closed = new Promise<{ code: number; reason: string; wasClean: boolean }>((resolve) =>
    ws.addEventListener('close', (e) => {
      const c = e as CloseEvent
      resolve({ code: c.code, reason: c.reason, wasClean: c.wasClean })
    })
  )
  const opened = new Promise<void>((resolve) => ws.addEventListener('open', () => resolve()))
  return { messages, closed, opened }
}

test('the handshake: headers passed on, the offered protocols, the chosen one; text and binary both ways', async () => {
  let request = ''
  const got: Buffer[] = []
  const port = await rawServer((socket, head) => {
    request = head
    socket.on('data', (c: Buffer) => got.push(c))
    socket.write(frame(0x1, 'héllo'))
    socket.write(frame(0x2, new Uint8Array([1, 2, 3])))
  }, (key) => [
    'HTTP/1.1 101 Switching Protocols',
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Accept: ${createHash('sha1').update(key + GUID).digest('base64')}`,
    'Sec-WebSocket-Protocol: chat.v1',
  ])
  const ws = new SocketWebSocket(`ws://127.0.0.1:${port}/a?b=1`, {
    headers: new Headers({ 'x-user-id': 'ann', host: 'ignored', upgrade: 'ignored' }),
    protocols: ['chat.v1', 'other'],
  })
  const e = events(ws)
  await e.opened
  expect(ws.protocol).toBe('chat.v1')
  expect(request).toStartWith('GET /a?b=1 HTTP/1.1\r\n')
  expect(request).toContain('\r\nx-user-id: ann')
  expect(request).toContain('Sec-WebSocket-Protocol: chat.v1, other')
  expect(request.match(/^host:/gim)?.length).toBe(1)
  await Bun.sleep(50)
  expect(e.messages[0]).toBe('héllo')
  expect(new Uint8Array(e.messages[1] as ArrayBuffer)).toEqual(new Uint8Array([1, 2, 3]))
  ws.send('x')
  await Bun.sleep(50)
  // A client frame is masked: the mask bit set, 4 key bytes, the payload XORed.
  const sent = Buffer.concat(got)
  expect(sent[0]).toBe(0x81)
  expect(sent[1]).toBe(0x80 | 1)
  expect(sent[6]! ^ sent[2]!).toBe('x'.charCodeAt(0))
  ws.close(4001, 'done')
})

test('fragments are joined; a ping is answered with a pong; a close is answered and reported', async () => {
  const got: Buffer[] = []
  const port = await rawServer((socket) => {
    socket.on('data', (c: Buffer) => got.push(c))
    socket.write(Buffer.concat([
      frame(0x1, 'ab', false),
      frame(0x9, 'pp'),
      frame(0x0, 'cd', false),
      frame(0x0, 'ef', true),
    ]))
    setTimeout(() => {
      const close = Buffer.alloc(2 + 3)
      close.writeUInt16BE(4002, 0)
      close.write('bye', 2)
      socket.write(frame(0x8, close))
      setTimeout(() => socket.end(), 50)
    }, 50)
  })
  const ws = new SocketWebSocket(`ws://127.0.0.1:${port}/`)
  const e = events(ws)
  expect(await e.closed).toEqual({ code: 4002, reason: 'bye', wasClean: true })
  expect(e.messages).toEqual(['abcdef'])
  const sent = Buffer.concat(got)
  expect(sent[0]).toBe(0x8a) // the pong
  expect(sent[(sent[1]! & 0x7f) + 6]).toBe(0x88) // then the close answered
})

/**
 * The heap a fragmented message's continuations grow while it is read: the server starts a text
 * message ('a'), sends `continuations`, then a ping; once the pong is back every frame before it
 * was read. Then the message is finished ('c') and what arrived returned.
 */
async function heldByContinuations(continuations: Buffer, maxMessageBytes?: number) {
  let socket: Socket | undefined
  const pong = Promise.withResolvers<void>()
  const port = await rawServer((s) => {
    socket = s
    s.on('data', (c: Buffer) => {
      if (c.includes(0x8a)) pong.resolve()
    })
    s.write(frame(0x1, 'a', false))
    s.write(continuations)
    s.write(frame(0x9, 'pp'))
  })
  Bun.gc(true)
  const before = process.memoryUsage().heapUsed
  const ws = new SocketWebSocket(`ws://127.0.0.1:${port}/`, { maxMessageBytes })
  const e = events(ws)
  await pong.promise
  Bun.gc(true)
  const grown = process.memoryUsage().heapUsed - before
  socket!.write(frame(0x0, 'c', true))
  await Bun.sleep(100)
  ws.close(1000, '')
  return { grown, messages: e.messages }
}

test('empty continuation frames cost no memory: what is held grows with bytes, not frames', async () => {
  // 2 bytes each on the wire: an upstream sending them without end must not grow the gateway.
  const empty = frame(0x0, '', false)
  const { grown, messages } = await heldByContinuations(
    Buffer.concat(Array.from({ length: 400_000 }, () => empty)),
  )
  expect(messages).toEqual(['ac'])
  expect(grown).toBeLessThan(8 * 1024 * 1024)
})

for (
  const [what, bytes, code] of [
    ['a frame over the size cap', frame(0x2, new Uint8Array(2000)), 1009],
    ['text that is not UTF-8', frame(0x1, new Uint8Array([0xc3, 0x28])), 1007],
    ['a masked server frame', Buffer.from([0x81, 0x81, 1, 2, 3, 4, 5]), 1002],
    ['a reserved bit', frame(0x1, 'x', true, 0x40), 1002],
    ['a continuation with nothing to continue', frame(0x0, 'x'), 1002],
  ] as const
) {
  test(`${what}: closed with ${code}`, async () => {
    const port = await rawServer((socket) => {
      socket.write(bytes)
      socket.on('data', () => setTimeout(() => socket.end(), 20))
    })
    const ws = new SocketWebSocket(`ws://127.0.0.1:${port}/`, { maxMessageBytes: 1000 })
    const e = events(ws)
    expect((await e.closed).code).toBe(code)
    expect(e.messages).toEqual([])
  })
}

test('a wrong accept key, a protocol not offered, or no 101: the handshake fails (1006)', async () => {
  for (
    const answer of [
      () => [
        'HTTP/1.1 101 OK',
        'Upgrade: websocket',
        'Connection: Upgrade',
        'Sec-WebSocket-Accept: nope',
      ],
      (key: string) => [
        'HTTP/1.1 101 OK',
        'Upgrade: websocket',
        'Connection: Upgrade',
        `Sec-WebSocket-Accept: ${createHash('sha1').update(key + GUID).digest('base64')}`,
        'Sec-WebSocket-Protocol: not-offered',
      ],
      () => ['HTTP/1.1 403 Forbidden', 'Content-Length: 0'],
    ]
  ) {
    const port = await rawServer(() => {}, answer)
    const ws = new SocketWebSocket(`ws://127.0.0.1:${port}/`, { protocols: ['chat'] })
    const e = events(ws)
    let opened = false
    void e.opened.then(() => (opened = true))
    expect((await e.closed).code).toBe(1006)
    expect(opened).toBe(false)
    server!.close()
  }
})

test('pause() holds the server back through TCP; resume() lets it go on', async () => {
  let written = 0
  let writing = true
  const port = await rawServer((socket) => {
    const chunk = frame(0x2, new Uint8Array(60_000))
    const pump = () => {
      while (writing && socket.write(chunk)) written += chunk.length
      if (writing) {
        socket.once('drain', () => {
          written += chunk.length
          pump()
        })
      }
    }
    pump()
  })
  const ws = new SocketWebSocket(`ws://127.0.0.1:${port}/`, { maxMessageBytes: 100_000 })
  const e = events(ws)
  await e.opened
  ws.pause()
  await Bun.sleep(300)
  const received = e.messages.length
  const heldAt = written
  await Bun.sleep(300)
  // Paused: nothing more read, and the server's writes stopped (kernel buffers full).
  expect(e.messages.length).toBe(received)
  expect(written - heldAt).toBeLessThan(2 * 60_000)
  expect(written).toBeLessThan(64 * 1024 * 1024)
  ws.resume()
  await Bun.sleep(300)
  expect(e.messages.length).toBeGreaterThan(received)
  writing = false
  ws.close()
})

test("a text message keeps a leading byte-order mark, as the runtimes' clients do", async () => {
  const port = await rawServer((socket) => socket.write(frame(0x1, '\uFEFFa')))
  const ws = new SocketWebSocket(`ws://127.0.0.1:${port}/`)
  const e = events(ws)
  await e.opened
  await Bun.sleep(50)
  expect(e.messages).toEqual(['\uFEFFa'])
  ws.close()
})

test('a close code no peer may send (1006, 999, 1015) is a protocol error; the event says unclean', async () => {
  for (const code of [1006, 999, 1015]) {
    const port = await rawServer((socket) => {
      const payload = Buffer.alloc(2)
      payload.writeUInt16BE(code, 0)
      socket.write(frame(0x8, payload))
      socket.on('data', () => setTimeout(() => socket.end(), 20))
    })
    const ws = new SocketWebSocket(`ws://127.0.0.1:${port}/`)
    const e = events(ws)
    const closed = await e.closed
    expect(closed.code).toBe(1002)
    expect(closed.wasClean).toBe(false)
    server!.close()
  }
})

test('refused at the header: a continuation that would pass the cap, a control frame over 125 bytes', async () => {
  for (
    const [bytes, code] of [
      [
        Buffer.concat([
          frame(0x2, new Uint8Array(900), false),
          Buffer.from([0x80, 126, 0x03, 0xe8]),
        ]),
        1009,
      ],
      [Buffer.from([0x89, 126, 0x01, 0x00]), 1002],
    ] as const
  ) {
    // Only the header of the offending frame is sent: the refusal cannot wait for its payload.
    const port = await rawServer((socket) => {
      socket.write(bytes)
      socket.on('data', () => setTimeout(() => socket.end(), 20))
    })
    const ws = new SocketWebSocket(`ws://127.0.0.1:${port}/`, { maxMessageBytes: 1000 })
    const e = events(ws)
    expect((await e.closed).code).toBe(code)
    server!.close()
  }
})

test('close() with a code that is none throws before anything changes', async () => {
  const port = await rawServer((socket) => socket.on('data', () => {}))
  const ws = new SocketWebSocket(`ws://127.0.0.1:${port}/`)
  const e = events(ws)
  await e.opened
  expect(() => ws.close(70_000)).toThrow(RangeError)
  expect(ws.readyState).toBe(1)
  ws.close(1000)
  expect(ws.readyState).toBe(2)
})

test("wss:// verifies the server's certificate: a self-signed one fails the handshake (1006)", async () => {
  const { mkdtempSync, readFileSync } = await import('node:fs')
  const { tmpdir } = await import('node:os')
  const { join } = await import('node:path')
  const { createServer: createTlsServer } = await import('node:tls')
  const { selfSigned } = await import('../helpers/files.ts')
  const pair = selfSigned(mkdtempSync(join(tmpdir(), 'jwtgate-wss-')), 'upstream')
  let handshakes = 0
  const tlsServer = createTlsServer({
    cert: pair.certPem,
    key: readFileSync(pair.key, 'utf8'),
  }, (socket) => {
    handshakes++
    socket.on('error', () => {})
  })
  const port = await new Promise<number>((resolve) =>
    tlsServer.listen(0, '127.0.0.1', () => resolve((tlsServer.address() as { port: number }).port))
  )
  try {
    const ws = new SocketWebSocket(`wss://127.0.0.1:${port}/`)
    const e = events(ws)
    let opened = false
    void e.opened.then(() => (opened = true))
    expect((await e.closed).code).toBe(1006)
    expect(opened).toBe(false)
    // The TLS handshake never completed: no request was ever written to that server.
    expect(handshakes).toBe(0)
  } finally {
    tlsServer.close()
  }
})

test('one-byte continuation frames cost their bytes, not a buffer each', async () => {
  // 3 bytes each on the wire, a million of them: under the cap, ~120 MB of heap if each fragment
  // were kept as its own buffer.
  const FRAMES = 1_000_000
  const one = frame(0x0, 'b', false)
  const { grown, messages } = await heldByContinuations(
    Buffer.concat(Array.from({ length: FRAMES }, () => one)),
    2 * FRAMES,
  )
  expect(messages).toEqual([`a${'b'.repeat(FRAMES)}c`])
  expect(grown).toBeLessThan(24 * 1024 * 1024)
}, 30_000)

test(
  'a server sending pings without reading grows nothing: only the latest ping waits for its pong',
  async () => {
    const PINGS = 4_000_000 // 8 MB of empty pings, the server never reading its socket
    const port = await rawServer((s) => {
      s.pause()
      s.write(Buffer.concat(Array.from({ length: PINGS }, () => frame(0x9, ''))))
    })
    const ws = new SocketWebSocket(`ws://127.0.0.1:${port}/`)
    const e = events(ws)
    await e.opened
    // Until every ping was read: the socket's own buffer fills, then only one pong waits.
    let most = 0
    for (let i = 0; i < 200; i++) {
      most = Math.max(most, ws.bufferedAmount)
      await Bun.sleep(10)
    }
    ws.close(1000, '')
    expect(most).toBeLessThan(1024 * 1024)
  },
  30_000,
)
