/**
 * Raw HTTP/1.1 over TCP for the end-to-end and security suites (not collected: no `.test.`): a
 * client that writes exactly the given bytes and reads every response that comes back, an
 * upstream that records each request-target verbatim, as it arrived on the wire, before any URL
 * parsing, a GET that sees the bytes a client would, and connection probes.
 */
import { connect, createServer, type Server, type Socket } from 'node:net'
import { concat, indexOfCrlfCrlf } from './bytes.ts'

const encoder = new TextEncoder()
const decoder = new TextDecoder()
/**
 * Bytes as a string, one char per byte (code points 0–255), so that any octet survives a round
 * trip. (TextDecoder's "latin1" is windows-1252 and would remap 0x80–0x9F.)
 */
const latin1 = {
  decode(bytes: Uint8Array): string {
    let out = ''
    for (let i = 0; i < bytes.length; i += 8192) {
      out += String.fromCharCode(...bytes.subarray(i, i + 8192))
    }
    return out
  },
}

/** A string whose chars are bytes 0–255 (a raw request written exactly, no UTF-8 re-encoding). */
export function bytesOf(text: string): Uint8Array {
  const out = new Uint8Array(text.length)
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c > 255) throw new Error(`bytesOf: char ${c} is not a byte; encode it as UTF-8 first`)
    out[i] = c
  }
  return out
}

/** UTF-8 bytes of `text` spelled as a byte string (for non-ASCII request-targets). */
export function utf8Bytes(text: string): string {
  return latin1.decode(encoder.encode(text))
}

export interface HeaderLines {
  /** Names lower-cased, in arrival order, repeats kept. */
  readonly list: readonly (readonly [string, string])[]
  /** All values of `name` (case-insensitive). */
  all(name: string): string[]
  /** The values of `name` joined with `, `, or null. */
  get(name: string): string | null
}

function headerLines(lines: readonly string[]): HeaderLines {
  const list: [string, string][] = []
  for (const line of lines) {
    const colon = line.indexOf(':')
    if (colon <= 0) continue
    list.push([line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()])
  }
  return {
    list,
    all: (name) => list.filter(([n]) => n === name.toLowerCase()).map(([, v]) => v),
    get(name) {
      const values = list.filter(([n]) => n === name.toLowerCase()).map(([, v]) => v)
      return values.length === 0 ? null : values.join(', ')
    },
  }
}

/** Reads a chunked body starting at `at`; returns the body and the index after it, or undefined if incomplete. */
function readChunked(data: Uint8Array, at: number): { body: Uint8Array; end: number } | undefined {
  const parts: Uint8Array[] = []
  for (let n = 0; n < 100_000; n++) {
    let eol = -1
    for (let i = at; i + 1 < data.length; i++) {
      if (data[i] === 13 && data[i + 1] === 10) {
        eol = i
        break
      }
    }
    if (eol < 0) return undefined
    const size = parseInt(latin1.decode(data.subarray(at, eol)).split(';')[0]!.trim(), 16)
    if (!Number.isFinite(size) || size < 0) throw new Error('bad chunk size')
    if (size === 0) {
      // Trailers (none expected) end with an empty line.
      const end = indexOfCrlfCrlf(data, eol - 2 < at ? at : eol - 2)
      if (end < 0) return undefined
      return { body: concat(parts), end: end + 4 }
    }
    if (eol + 2 + size + 2 > data.length) return undefined
    parts.push(data.subarray(eol + 2, eol + 2 + size))
    at = eol + 2 + size + 2
  }
  throw new Error('too many chunks')
}

/** One HTTP/1.1 response read off the wire. */
export interface RawResponse {
  readonly status: number
  readonly statusLine: string
  readonly headers: HeaderLines
  readonly body: Uint8Array
  text(): string
  json(): Record<string, unknown>
}

/**
 * Splits `data` into the responses it holds (1xx interim responses skipped). A response without
 * Content-Length or chunked framing runs to the end of the data. `headRequests` lists, per
 * response, whether it answers a HEAD (no body).
 */
export function parseResponses(
  data: Uint8Array,
  headRequests: readonly boolean[] = [],
): RawResponse[] {
  const out: RawResponse[] = []
  let at = 0
  for (let n = 0; n < 100 && at < data.length; n++) {
    const end = indexOfCrlfCrlf(data, at)
    if (end < 0) break
    const [statusLine = '', ...lines] = latin1.decode(data.subarray(at, end)).split('\r\n')
    const status = Number(statusLine.split(' ')[1])
    const headers = headerLines(lines)
    let bodyStart = end + 4
    let body: Uint8Array
    if (status >= 100 && status < 200) {
      at = bodyStart
      continue
    }
    const isHead = headRequests[out.length] === true
    const length = headers.get('content-length')
    if (isHead || status === 204 || status === 304) {
      body = new Uint8Array(0)
    } else if ((headers.get('transfer-encoding') ?? '').toLowerCase().includes('chunked')) {
      const chunked = readChunked(data, bodyStart)
      if (chunked === undefined) {
        body = data.subarray(bodyStart)
        bodyStart = data.length
      } else {
        body = chunked.body
        bodyStart = chunked.end
      }
      at = bodyStart
      out.push(response(statusLine, status, headers, body))
      continue
    } else if (length !== null) {
      body = data.subarray(bodyStart, bodyStart + Number(length))
      bodyStart += body.byteLength
    } else {
      body = data.subarray(bodyStart)
      bodyStart = data.length
    }
    at = isHead || status === 204 || status === 304 ? end + 4 : bodyStart
    out.push(response(statusLine, status, headers, body))
  }
  return out
}

function response(
  statusLine: string,
  status: number,
  headers: HeaderLines,
  body: Uint8Array,
): RawResponse {
  return {
    status,
    statusLine,
    headers,
    body,
    text: () => decoder.decode(body),
    json: () => JSON.parse(decoder.decode(body)) as Record<string, unknown>,
  }
}

export interface Exchange {
  /** Every byte the server sent. */
  readonly data: Uint8Array
  /** The responses parsed from `data`. */
  readonly responses: RawResponse[]
  /** True when the server closed (or reset) the connection. */
  readonly closed: boolean
  /** A socket error, e.g. ECONNRESET, if any. */
  readonly error: string | undefined
}

export interface ExchangeOptions {
  /** Stop reading this long after the last byte arrived (default 400 ms)... */
  readonly idleMs?: number
  /** ...once this many responses are complete (default 1); or when the server closes. */
  readonly responses?: number
  /** Hard limit (default 4000 ms). */
  readonly timeoutMs?: number
  readonly headRequests?: readonly boolean[]
}

/**
 * Connects to 127.0.0.1:`port`, writes `request` byte for byte (a string is taken as latin1:
 * one char, one byte), and collects what comes back until the server closes, or `responses`
 * responses are complete and the connection was idle for `idleMs`, or `timeoutMs` passes.
 */
export function exchange(
  port: number,
  request: string | Uint8Array,
  options: ExchangeOptions = {},
): Promise<Exchange> {
  const idleMs = options.idleMs ?? 400
  const wanted = options.responses ?? 1
  const timeoutMs = options.timeoutMs ?? 4000
  const bytes = typeof request === 'string' ? bytesOf(request) : request
  return new Promise((resolve) => {
    const chunks: Uint8Array[] = []
    let closed = false
    let error: string | undefined
    let settled = false
    let idle: ReturnType<typeof setTimeout> | undefined
    const socket: Socket = connect({ host: '127.0.0.1', port }, () => socket.write(bytes))
    const finish = () => {
      if (settled) return
      settled = true
      clearTimeout(hard)
      clearTimeout(idle)
      socket.destroy()
      const data = concat(chunks)
      let responses: RawResponse[] = []
      try {
        responses = parseResponses(data, options.headRequests)
      } catch {
        responses = []
      }
      resolve({ data, responses, closed, error })
    }
    const hard = setTimeout(finish, timeoutMs)
    socket.on('data', (chunk: Uint8Array) => {
      chunks.push(new Uint8Array(chunk))
      clearTimeout(idle)
      idle = setTimeout(() => {
        let complete = 0
        try {
          complete = parseResponses(concat(chunks), options.headRequests).length
        } catch {
          complete = 0
        }
        if (complete >= wanted) finish()
      }, idleMs)
    })
    socket.on('error', (e: Error & { code?: string }) => {
      error = e.code ?? e.message
      closed = true
      finish()
    })
    socket.on('close', () => {
      closed = true
      finish()
    })
  })
}

/** A request the raw upstream received, exactly as framed on the wire. */
export interface UpstreamRequest {
  readonly method: string
  /** The request-target verbatim (bytes as latin1 chars). */
  readonly target: string
  readonly version: string
  readonly headers: HeaderLines
  readonly body: Uint8Array
}

export interface RawUpstream {
  readonly port: number
  readonly url: string
  /** Every request received, in order. */
  readonly seen: UpstreamRequest[]
  /** Bytes that could not be parsed as a request (should stay empty). */
  readonly garbage: string[]
  close(): Promise<void>
}

/**
 * An HTTP/1.1 upstream on 127.0.0.1 that parses requests itself (keep-alive, Content-Length and
 * chunked bodies), records each one with its raw request-target, and answers 200 with
 * `{"target": …}` (or `respond`'s status and body).
 */
export function rawUpstream(
  respond?: (request: UpstreamRequest) => { status: number; body: string },
): Promise<RawUpstream> {
  const seen: UpstreamRequest[] = []
  const garbage: string[] = []
  const sockets = new Set<Socket>()
  const server: Server = createServer((socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => {})
    let buffer: Uint8Array = new Uint8Array(0)
    socket.on('data', (chunk: Uint8Array) => {
      buffer = concat([buffer, new Uint8Array(chunk)])
      for (let n = 0; n < 100; n++) {
        const end = indexOfCrlfCrlf(buffer, 0)
        if (end < 0) return
        const [requestLine = '', ...lines] = latin1.decode(buffer.subarray(0, end)).split('\r\n')
        const parts = requestLine.split(' ')
        if (parts.length !== 3) {
          garbage.push(latin1.decode(buffer))
          socket.end('HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n')
          buffer = new Uint8Array(0)
          return
        }
        const [method = '', target = '', version = ''] = parts
        const headers = headerLines(lines)
        let body: Uint8Array
        let next: number
        if ((headers.get('transfer-encoding') ?? '').toLowerCase().includes('chunked')) {
          const chunked = readChunked(buffer, end + 4)
          if (chunked === undefined) return
          body = chunked.body
          next = chunked.end
        } else {
          const length = Number(headers.get('content-length') ?? '0')
          if (end + 4 + length > buffer.length) return
          body = buffer.slice(end + 4, end + 4 + length)
          next = end + 4 + length
        }
        buffer = buffer.slice(next)
        const request: UpstreamRequest = { method, target, version, headers, body }
        seen.push(request)
        const answer = respond?.(request) ?? { status: 200, body: JSON.stringify({ target }) }
        const payload = encoder.encode(answer.body)
        socket.write(
          `HTTP/1.1 ${answer.status} X\r\ncontent-type: application/json\r\ncontent-length: ${payload.byteLength}\r\n\r\n`,
        )
        socket.write(payload)
      }
    })
  })
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      resolve({
        port,
        url: `http://127.0.0.1:${port}`,
        seen,
        garbage,
        close: () =>
          new Promise<void>((done) => {
            for (const s of sockets) s.destroy()
            server.close(() => done())
          }),
      })
    })
  })
}

/** What `rawGet` read: the bytes on the wire, before any client-side decoding. */
export interface RawGetResponse {
  readonly status: number
  /** Lower-cased names; repeated headers joined with `, `. */
  readonly headers: Record<string, string>
  /** The message body after transfer decoding (chunked), still content-encoded. */
  readonly body: Uint8Array
}

/**
 * Sends one GET over a fresh socket with `Connection: close` and reads the response verbatim, so
 * a test sees exactly the Content-Encoding, Content-Length and bytes a client would.
 */
export function rawGet(
  url: string,
  headers: Readonly<Record<string, string>>,
  timeoutMs = 5000,
): Promise<RawGetResponse> {
  const { hostname, port, pathname, search } = new URL(url)
  const lines = [
    `GET ${pathname}${search} HTTP/1.1`,
    `Host: ${hostname}:${port}`,
    'Connection: close',
  ]
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`)
  return new Promise((resolve, reject) => {
    const chunks: Uint8Array[] = []
    const socket = connect(
      { host: hostname, port: Number(port) },
      () => socket.write(`${lines.join('\r\n')}\r\n\r\n`),
    )
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error(`no complete response from ${url} within ${timeoutMs} ms`))
    }, timeoutMs)
    socket.on('data', (chunk: Uint8Array) => chunks.push(new Uint8Array(chunk)))
    socket.on('error', (e) => {
      clearTimeout(timer)
      reject(e)
    })
    socket.on('close', () => {
      clearTimeout(timer)
      try {
        const data = concat(chunks)
        const end = indexOfCrlfCrlf(data)
        if (end < 0) throw new Error('no header block')
        const [statusLine = '', ...headerLines] = new TextDecoder().decode(data.subarray(0, end))
          .split('\r\n')
        const out: Record<string, string> = {}
        for (const line of headerLines) {
          const colon = line.indexOf(':')
          const name = line.slice(0, colon).trim().toLowerCase()
          const value = line.slice(colon + 1).trim()
          out[name] = out[name] === undefined ? value : `${out[name]}, ${value}`
        }
        let body = data.subarray(end + 4)
        if ((out['transfer-encoding'] ?? '').toLowerCase().includes('chunked')) {
          const chunked = readChunked(body, 0)
          if (chunked === undefined) throw new Error('truncated chunked body')
          body = chunked.body
        }
        resolve({ status: Number(statusLine.split(' ')[1]), headers: out, body })
      } catch (e) {
        reject(e)
      }
    })
  })
}

/** Opens a fresh TCP connection to 127.0.0.1:`port`: `refused`, `open` (then closed at once), or `timeout`. */
export function probeConnect(
  port: number,
  timeoutMs = 2000,
): Promise<'refused' | 'open' | 'timeout' | string> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port })
    const timer = setTimeout(() => {
      socket.destroy()
      resolve('timeout')
    }, timeoutMs)
    socket.on('connect', () => {
      clearTimeout(timer)
      socket.destroy()
      resolve('open')
    })
    socket.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer)
      resolve(e.code === 'ECONNREFUSED' ? 'refused' : `error ${e.code}`)
    })
  })
}

/**
 * A keep-alive HTTP/1.1 connection opened now, for probes "on connections already open":
 * `get(path)` writes a request on it and resolves with the status code, or `closed` when the
 * server closed the connection instead of answering, or `timeout` after `timeoutMs`.
 */
export async function keepAlive(
  port: number,
): Promise<
  { get(path: string, timeoutMs?: number): Promise<number | 'closed' | 'timeout'>; close(): void }
> {
  const socket = connect({ host: '127.0.0.1', port })
  let data = ''
  let closed = false
  const waiters = new Set<() => void>()
  const wake = () => {
    for (const w of waiters) w()
  }
  socket.on('data', (chunk) => {
    data += chunk.toString('latin1')
    wake()
  })
  socket.on('close', () => {
    closed = true
    wake()
  })
  socket.on('error', () => {})
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve())
    socket.once('error', reject)
  })
  return {
    get(path, timeoutMs = 2000) {
      data = ''
      if (!closed) socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`)
      return new Promise((resolve) => {
        const check = () => {
          const m = /^HTTP\/1\.1 (\d{3}) /.exec(data)
          if (m !== null || closed) {
            clearTimeout(timer)
            waiters.delete(check)
            resolve(m !== null ? Number(m[1]) : 'closed')
          }
        }
        const timer = setTimeout(() => {
          waiters.delete(check)
          resolve('timeout')
        }, timeoutMs)
        waiters.add(check)
        check()
      })
    },
    close: () => void socket.destroy(),
  }
}
