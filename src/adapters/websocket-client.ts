/**
 * @module The gateway's WebSocket client to upstreams, over a TCP (or TLS) socket of its own:
 * the web-standard `WebSocket` subset the gateway uses (RFC 6455 framing, masking, ping/pong,
 * fragmented messages, the closing handshake), plus what the runtimes' own clients cannot do —
 * `pause()` and `resume()`, which stop and restart reading the upstream's connection. A client
 * that reads slowly then holds the upstream back through TCP, as an HTTP body does, instead of
 * its messages piling up in the gateway. Runs on Bun and Deno alike (node:net, node:tls); the
 * Deno adapter uses it (Deno's own client cannot pause), the Bun adapter Bun's own (which can).
 *
 * @example
 * import { createGateway, loadConfig } from 'jwtgate'
 * import { runtimeDeps } from 'jwtgate/deno'
 *
 * // runtimeDeps.WebSocket is SocketWebSocket
 * const gateway = createGateway(await loadConfig(Deno.env.toObject()), runtimeDeps)
 */
import { Buffer } from 'node:buffer'
import { createHash, randomBytes } from 'node:crypto'
import { connect as tcp, isIP, type Socket } from 'node:net'
import { connect as tls } from 'node:tls'

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'
const CONNECTING = 0
const OPEN = 1
const CLOSING = 2
const CLOSED = 3
/** The largest response head the handshake reads. */
const MAX_HEAD = 16 * 1024
/** How long a closing handshake may take before the socket is cut. */
const CLOSE_WAIT_MS = 5000
/** A message larger than this is refused (1009) when the caller sets no cap. */
const DEFAULT_MAX_MESSAGE = 64 * 1024 * 1024
const EMPTY = Buffer.alloc(0)
/** Headers the handshake writes itself, or that have no place in it. */
const NOT_SENT = new Set([
  'host',
  'upgrade',
  'connection',
  'content-length',
  'transfer-encoding',
  'sec-websocket-key',
  'sec-websocket-version',
  'sec-websocket-protocol',
  'sec-websocket-extensions',
  'sec-websocket-accept',
])
// ignoreBOM: a text message's leading U+FEFF is content, kept as the runtimes' clients keep it.
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/** Close codes a peer may send (RFC 6455 §7.4.1–7.4.2); others are a protocol error. */
function sendableCode(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
    (code >= 3000 && code <= 4999)
}

/** The options the constructor takes (the runtimes' clients take the first two too). */
export interface SocketWebSocketOptions {
  /** Headers for the handshake (the handshake's own are written by the client). */
  readonly headers?: Headers
  /** The subprotocols offered. */
  readonly protocols?: readonly string[]
  /** The largest message accepted (1009 above it); default 64 MiB. */
  readonly maxMessageBytes?: number
}

/**
 * A WebSocket client to an upstream, over its own socket: the web-standard events (`open`,
 * `message`, `close`), `send`, `close`, `protocol`, `bufferedAmount`, and `pause`/`resume` of
 * reading. Binary messages arrive as ArrayBuffers.
 *
 * @example
 * const ws = new SocketWebSocket('ws://127.0.0.1:3000/chat', { protocols: ['chat.v1'] })
 * ws.onopen = () => ws.send('hello')
 */
export class SocketWebSocket extends EventTarget {
  /** Always `arraybuffer` (kept for the web-standard shape). */
  binaryType: BinaryType = 'arraybuffer'
  /** The subprotocol the server chose ('' for none). */
  protocol = ''
  /** 0 connecting, 1 open, 2 closing, 3 closed. */
  readyState: number = CONNECTING
  /** Called at `open`, as the web-standard property. */
  onopen: ((event: Event) => void) | null = null
  /** Called at `close`, as the web-standard property. */
  onclose: ((event: CloseEvent) => void) | null = null
  readonly #socket: Socket
  readonly #key: string
  readonly #offered: readonly string[]
  readonly #maxMessage: number
  #head: Buffer = EMPTY
  /** What arrived and is not parsed yet, and how many bytes the frame being read needs. */
  #pending: Buffer[] = []
  #pendingBytes = 0
  #need = 0
  /** The fragmented message so far: its first #fragmentBytes bytes (the rest is room to grow). */
  #fragments: Buffer | undefined
  #fragmentOpcode = 0
  #fragmentBytes = 0
  /** The latest ping not answered yet: sent once the socket drains. */
  #pong: Buffer | undefined
  #closeSent = false
  /** Frames that came with the handshake's answer wait for a later task; so does `close`. */
  #deferred = false
  #endedMeanwhile = false
  /** pause() was called (and resume() not since). */
  #paused = false
  /** Closed for a broken rule of the protocol: the close event says it was not clean. */
  #failed = false
  #closeInfo: { code: number; reason: string } | undefined
  #closeTimer: ReturnType<typeof setTimeout> | undefined

  /** Connects to `url` (`ws://` or `wss://`, TLS verified) and starts the handshake. */
  constructor(url: string, options: SocketWebSocketOptions = {}) {
    super()
    const u = new URL(url)
    const secure = u.protocol === 'wss:'
    if (!secure && u.protocol !== 'ws:') throw new SyntaxError(`not a WebSocket URL: ${u.protocol}`)
    const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname
    const port = Number(u.port || (secure ? 443 : 80))
    this.#key = randomBytes(16).toString('base64')
    this.#offered = options.protocols ?? []
    this.#maxMessage = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE
    this.#socket = secure
      ? tls({ host, port, servername: isIP(host) === 0 ? host : undefined })
      : tcp({ host, port })
    this.#socket.setNoDelay(true)
    const lines = [
      `GET ${u.pathname}${u.search} HTTP/1.1`,
      `Host: ${u.host}`,
      'Upgrade: websocket',
      'Connection: Upgrade',
      `Sec-WebSocket-Key: ${this.#key}`,
      'Sec-WebSocket-Version: 13',
    ]
    if (this.#offered.length > 0) lines.push(`Sec-WebSocket-Protocol: ${this.#offered.join(', ')}`)
    // Header names and values were checked by Headers: no CR or LF can get in.
    options.headers?.forEach((value, name) => {
      if (!NOT_SENT.has(name)) lines.push(`${name}: ${value}`)
    })
    // Byte for byte: header values are byte strings (latin1), never re-encoded as UTF-8.
    this.#socket.write(`${lines.join('\r\n')}\r\n\r\n`, 'latin1')
    this.#socket.on('data', (chunk: Buffer) => this.#data(chunk))
    this.#socket.on('close', () => this.#closed())
    // A failed connection or TLS handshake: `close` follows (1006).
    this.#socket.on('error', () => {})
  }

  /** Bytes written and not yet handed to the connection. */
  get bufferedAmount(): number {
    return this.#socket.writableLength
  }

  /**
   * Stops reading the server's connection: its sends back up through TCP. What was already read
   * (the rest of the current chunk) is still delivered.
   */
  pause(): void {
    this.#paused = true
    this.#socket.pause()
  }

  /** Reads the server's messages again. */
  resume(): void {
    this.#paused = false
    // Frames held back for the listeners go first; reading resumes after them.
    if (!this.#deferred) this.#socket.resume()
  }

  /** Sends a message (text for a string); nothing once closing. */
  send(data: string | ArrayBuffer | ArrayBufferView): void {
    if (this.readyState !== OPEN) return
    if (typeof data === 'string') this.#frame(0x1, Buffer.from(data, 'utf8'))
    else if (data instanceof ArrayBuffer) this.#frame(0x2, Buffer.from(data))
    else this.#frame(0x2, Buffer.from(data.buffer, data.byteOffset, data.byteLength))
  }

  /**
   * Starts the closing handshake (any valid code is sent as given: the gateway passes codes on);
   * throws for a code that is not one, before anything changes.
   */
  close(code?: number, reason = ''): void {
    if (code !== undefined && !(Number.isInteger(code) && code >= 1000 && code <= 4999)) {
      throw new RangeError(`not a close code: ${code}`)
    }
    if (this.readyState === CLOSING || this.readyState === CLOSED) return
    if (this.readyState === CONNECTING) {
      this.readyState = CLOSING
      this.#socket.destroy()
      return
    }
    this.readyState = CLOSING
    this.#sendClose(code, reason)
    // The server's answer must be read, even by a client paused for a slow reader.
    this.#readAgain()
    this.#closeTimer = setTimeout(() => this.#socket.destroy(), CLOSE_WAIT_MS)
  }

  #readAgain(): void {
    this.#paused = false
    if (!this.#deferred) this.#socket.resume()
  }

  #sendClose(code: number | undefined, reason: string): void {
    if (this.#closeSent) return
    this.#closeSent = true
    if (code === undefined) {
      this.#frame(0x8, EMPTY)
      return
    }
    const text = Buffer.from(reason, 'utf8').subarray(0, 123)
    const payload = Buffer.allocUnsafe(2 + text.length)
    payload.writeUInt16BE(code, 0)
    text.copy(payload, 2)
    this.#frame(0x8, payload)
  }

  /** Writes one frame, masked (RFC 6455 §5.3: every client frame is). */
  #frame(opcode: number, payload: Buffer): void {
    const length = payload.length
    const extra = length < 126 ? 0 : length < 65536 ? 2 : 8
    const frame = Buffer.allocUnsafe(2 + extra + 4 + length)
    frame[0] = 0x80 | opcode
    if (extra === 0) frame[1] = 0x80 | length
    else if (extra === 2) {
      frame[1] = 0x80 | 126
      frame.writeUInt16BE(length, 2)
    } else {
      frame[1] = 0x80 | 127
      frame.writeUInt32BE(Math.floor(length / 2 ** 32), 2)
      frame.writeUInt32BE(length >>> 0, 6)
    }
    const maskAt = 2 + extra
    randomBytes(4).copy(frame, maskAt)
    const m0 = frame[maskAt]!,
      m1 = frame[maskAt + 1]!,
      m2 = frame[maskAt + 2]!,
      m3 = frame[maskAt + 3]!
    const out = maskAt + 4
    let i = 0
    for (; i + 4 <= length; i += 4) {
      frame[out + i] = payload[i]! ^ m0
      frame[out + i + 1] = payload[i + 1]! ^ m1
      frame[out + i + 2] = payload[i + 2]! ^ m2
      frame[out + i + 3] = payload[i + 3]! ^ m3
    }
    const mask = [m0, m1, m2, m3]
    for (; i < length; i++) frame[out + i] = payload[i]! ^ mask[i & 3]!
    this.#socket.write(frame)
  }

  #data(chunk: Buffer): void {
    if (this.readyState === CONNECTING) {
      const head = this.#head.length === 0 ? chunk : Buffer.concat([this.#head, chunk])
      const end = head.indexOf('\r\n\r\n')
      if (end < 0) {
        if (head.length > MAX_HEAD) this.#socket.destroy()
        else this.#head = head
        return
      }
      this.#head = EMPTY
      if (!this.#accepted(head.subarray(0, end).toString('latin1'))) {
        this.#socket.destroy()
        return
      }
      this.readyState = OPEN
      const event = new Event('open')
      this.onopen?.(event)
      this.dispatchEvent(event)
      // Frames that came with the answer are delivered in a later task, as a web-standard client
      // does: whoever `open` woke up (an awaited promise) has attached its listeners by then.
      // Reading waits meanwhile, so that nothing overtakes them.
      const rest = head.subarray(end + 4)
      if (rest.length > 0) {
        this.#deferred = true
        this.#socket.pause()
        setTimeout(() => {
          this.#deferred = false
          this.#frames(rest)
          // The connection may have ended meanwhile (the server closed right after sending).
          if (this.#endedMeanwhile) this.#closed()
          else if (!this.#paused) this.#socket.resume()
        }, 0)
      }
      return
    }
    this.#frames(chunk)
  }

  /** Checks the server's answer (RFC 6455 §4.1): 101, the accept key, a protocol offered. */
  #accepted(head: string): boolean {
    const [status, ...lines] = head.split('\r\n')
    if (!/^HTTP\/1\.1 101(?: |$)/.test(status!)) return false
    const fields = new Map<string, string>()
    for (const line of lines) {
      const colon = line.indexOf(':')
      if (colon <= 0) return false
      const name = line.slice(0, colon).trim().toLowerCase()
      const value = line.slice(colon + 1).trim()
      fields.set(name, fields.has(name) ? `${fields.get(name)}, ${value}` : value)
    }
    const accept = createHash('sha1').update(this.#key + GUID).digest('base64')
    const connection = fields.get('connection') ?? ''
    if (
      fields.get('upgrade')?.toLowerCase() !== 'websocket' ||
      !connection.split(',').some((t) => t.trim().toLowerCase() === 'upgrade') ||
      fields.get('sec-websocket-accept') !== accept || fields.has('sec-websocket-extensions')
    ) return false
    const protocol = fields.get('sec-websocket-protocol')
    if (protocol !== undefined) {
      if (!this.#offered.includes(protocol)) return false
      this.protocol = protocol
    }
    return true
  }

  /**
   * Parses every whole frame in what has arrived; keeps the rest for the next chunk. A large
   * frame's chunks are kept apart until all are there, then joined once.
   */
  #frames(chunk: Buffer): void {
    this.#pending.push(chunk)
    this.#pendingBytes += chunk.length
    if (this.#pendingBytes < this.#need) return
    const buffer = this.#pending.length === 1 ? chunk : Buffer.concat(this.#pending)
    this.#pending = []
    this.#pendingBytes = 0
    this.#need = 0
    let at = 0
    while (this.readyState !== CLOSED && buffer.length - at >= 2) {
      const b0 = buffer[at]!
      const b1 = buffer[at + 1]!
      let length = b1 & 0x7f
      let offset = at + 2
      if (length === 126) {
        if (buffer.length - offset < 2) break
        length = buffer.readUInt16BE(offset)
        offset += 2
      } else if (length === 127) {
        if (buffer.length - offset < 8) break
        length = buffer.readUInt32BE(offset) * 2 ** 32 + buffer.readUInt32BE(offset + 4)
        offset += 8
      }
      const opcode = b0 & 0x0f
      if ((b0 & 0x70) !== 0 || (b1 & 0x80) !== 0) return this.#fail(1002, 'protocol error')
      // Refused at the header, before any of the payload is kept: an oversized control frame, a
      // frame or a continued message over the cap.
      if (opcode >= 0x8 && ((b0 & 0x80) === 0 || length > 125)) {
        return this.#fail(1002, 'protocol error')
      }
      if (length > this.#maxMessage) return this.#fail(1009, 'message too big')
      if (opcode === 0x0 && this.#fragmentBytes + length > this.#maxMessage) {
        return this.#fail(1009, 'message too big')
      }
      if (buffer.length - offset < length) {
        this.#need = offset + length - at
        break
      }
      at = offset + length
      this.#onFrame((b0 & 0x80) !== 0, opcode, buffer.subarray(offset, at))
    }
    if (at < buffer.length) {
      const rest = buffer.subarray(at)
      this.#pending.push(rest)
      this.#pendingBytes = rest.length
    }
  }

  /** One whole frame from the server (its header already checked in #frames). */
  #onFrame(fin: boolean, opcode: number, payload: Buffer): void {
    if (opcode >= 0x8) {
      if (opcode === 0x9) {
        if (this.readyState === OPEN) this.#ping(payload)
      } else if (opcode === 0x8) this.#serverClose(payload)
      else if (opcode !== 0xa) this.#fail(1002, 'protocol error')
      return
    }
    if (this.readyState !== OPEN) return
    if (opcode === 0x0) {
      if (this.#fragments === undefined) return this.#fail(1002, 'protocol error')
      const used = this.#fragmentBytes + payload.length
      if (used > this.#maxMessage) return this.#fail(1009, 'message too big')
      // Copied into one buffer that doubles when full: what is held grows with bytes, never with
      // frames (an upstream could send a million one-byte continuations, ~120 bytes of heap each
      // if each were kept apart, or empty ones without end).
      if (used > this.#fragments.length) {
        const grown = Buffer.allocUnsafe(
          Math.min(this.#maxMessage, Math.max(used, this.#fragments.length * 2)),
        )
        this.#fragments.copy(grown, 0, 0, this.#fragmentBytes)
        this.#fragments = grown
      }
      payload.copy(this.#fragments, this.#fragmentBytes)
      this.#fragmentBytes = used
      if (!fin) return
      const whole = this.#fragments.subarray(0, used)
      const kind = this.#fragmentOpcode
      this.#fragments = undefined
      this.#fragmentBytes = 0
      this.#deliver(kind, whole)
      return
    }
    if ((opcode !== 0x1 && opcode !== 0x2) || this.#fragments !== undefined) {
      return this.#fail(1002, 'protocol error')
    }
    if (fin) return this.#deliver(opcode, payload)
    this.#fragments = Buffer.from(payload)
    this.#fragmentOpcode = opcode
    this.#fragmentBytes = payload.length
  }

  /**
   * Answers a ping; while the socket is full (the server does not read) only the latest is kept,
   * answered once it drains (RFC 6455 §5.5.3 allows answering only the latest): a server sending
   * pings without reading grows nothing here.
   */
  #ping(payload: Buffer): void {
    if (!this.#socket.writableNeedDrain) return this.#frame(0xa, payload)
    if (this.#pong === undefined) {
      this.#socket.once('drain', () => {
        const latest = this.#pong
        this.#pong = undefined
        if (latest !== undefined && this.readyState === OPEN) this.#frame(0xa, latest)
      })
    }
    this.#pong = Buffer.from(payload)
  }

  #deliver(opcode: number, payload: Buffer): void {
    let data: string | ArrayBuffer
    if (opcode === 0x1) {
      try {
        data = strictUtf8.decode(payload)
      } catch {
        return this.#fail(1007, 'invalid UTF-8')
      }
    } else {
      data = payload.buffer.slice(
        payload.byteOffset,
        payload.byteOffset + payload.length,
      ) as ArrayBuffer
    }
    this.dispatchEvent(new MessageEvent('message', { data }))
  }

  /** The server's close frame: answered (once), then the connection ends. */
  #serverClose(payload: Buffer): void {
    let code = 1005
    let reason = ''
    if (payload.length === 1) return this.#fail(1002, 'protocol error')
    if (payload.length >= 2) {
      code = payload.readUInt16BE(0)
      if (!sendableCode(code)) return this.#fail(1002, 'protocol error')
      try {
        reason = strictUtf8.decode(payload.subarray(2))
      } catch {
        return this.#fail(1007, 'invalid UTF-8')
      }
    }
    this.#closeInfo ??= { code, reason }
    this.readyState = CLOSING
    this.#sendClose(code === 1005 ? undefined : code, '')
    // The server closes the TCP connection first (RFC 6455 §7.1.1: its side keeps TIME_WAIT);
    // ours follows its FIN, or the timer cuts it.
    this.#readAgain()
    this.#closeTimer ??= setTimeout(() => this.#socket.destroy(), CLOSE_WAIT_MS)
  }

  /** A broken rule of the protocol: close with `code`, reported to the listeners as such. */
  #fail(code: number, reason: string): void {
    this.#failed = true
    this.#closeInfo ??= { code, reason }
    if (this.readyState === OPEN) this.#sendClose(code, reason)
    this.readyState = CLOSING
    this.#readAgain()
    this.#socket.end()
    this.#closeTimer ??= setTimeout(() => this.#socket.destroy(), CLOSE_WAIT_MS)
  }

  #closed(): void {
    if (this.readyState === CLOSED) return
    if (this.#deferred) {
      this.#endedMeanwhile = true
      return
    }
    clearTimeout(this.#closeTimer)
    this.readyState = CLOSED
    const info = this.#closeInfo
    const event = new CloseEvent('close', {
      code: info?.code ?? 1006,
      reason: info?.reason ?? '',
      wasClean: info !== undefined && !this.#failed,
    })
    this.onclose?.(event)
    this.dispatchEvent(event)
  }
}
