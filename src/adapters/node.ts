/**
 * @module Serving jwtgate from Node 20+ (`node:http`, `node:https`): each request becomes a web
 * `Request` (its URL from the Host header and the socket's protocol, never from a client-written
 * absolute-form target; repeated headers kept; the body streamed with backpressure; a signal
 * aborted when the client goes away), and the `Response` is written back streamed, waiting for
 * `drain`, its reader cancelled when the client goes away. `runtimeDeps` says what Node's fetch
 * (undici) does to compressed upstream bodies: it always decodes gzip, deflate and br.
 *
 * Written here rather than taken from @hono/node-server or srvx: both are maintained and stream
 * both ways, but the first needs `hono` as a peer dependency, and both have shipped bugs in the
 * very edges a gateway leans on (srvx: the abort signal fired on every finished request, a bad
 * Host or `OPTIONS *` crashing the process; @hono/node-server: no abort on disconnect, a 400 for
 * absolute-form targets). This module is small, has no dependency, and its test covers those edges.
 *
 * @example
 * import { createGateway, loadConfig } from 'jwtgate'
 * import { runtimeDeps, serve } from 'jwtgate/node'
 *
 * const gateway = createGateway(await loadConfig(process.env), { ...runtimeDeps, connectionIdleMs: 120_000 })
 * const server = await serve(gateway, { port: 8080, idleTimeoutSec: 120 })
 */
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server as HttpServer,
  type ServerResponse,
} from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { Socket } from 'node:net'
import * as zlib from 'node:zlib'
import type { Logger } from '../core/log.ts'
import { errorResponse, failureResponse } from '../core/respond.ts'
import { isHostValue } from '../core/routing/host.ts'
import { methodNotAllowed } from '../core/routing/method.ts'
import {
  type Handler,
  handlerOf,
  type RuntimeDeps,
  type Servable,
  type ServeOptions,
  type Server,
} from './types.ts'

export type {
  Handler,
  RuntimeDeps,
  Servable,
  ServeOptions as NodeServeOptions,
  Server as NodeServer,
}

/**
 * Content codings Node's fetch (undici) decodes by itself, with no option to keep the bytes:
 * gzip (and x-gzip), deflate and br, checked on Node 20 (undici 6). undici 8 decodes zstd too
 * where zlib has it (Node 22.15+); older undici passes zstd through untouched.
 */
function decodedByFetch(): string[] {
  const codings = ['gzip', 'x-gzip', 'deflate', 'br']
  const undici = Number(process.versions.undici?.split('.')[0] ?? 0)
  const hasZstd = typeof (zlib as { createZstdDecompress?: unknown }).createZstdDecompress ===
    'function'
  if (undici >= 8 && hasZstd) codings.push('zstd')
  return codings
}

/**
 * What a gateway needs to know about Node's fetch (see GatewayDeps.decodedEncodings). Pass it to
 * `createGateway` (spread, to add `connectionIdleMs` or a logger).
 */
export const runtimeDeps: RuntimeDeps = Object.freeze({
  decodedEncodings: Object.freeze(decodedByFetch()),
  // undici decodes `Content-Encoding: gzip, br` too (checked on Node 20).
  decodesStackedEncodings: true,
})

/** Time allowed for a request's headers (Node's default; slow-header clients are cut). */
const HEADERS_TIMEOUT_MS = 60_000
/** How long an idle keep-alive connection is kept when no idle timeout is given (Node's default). */
const KEEP_ALIVE_MS = 5_000
/** Methods a `Request` cannot carry a body for. */
const BODYLESS = new Set(['GET', 'HEAD'])
/** Methods a `Request` refuses outright (CONNECT never reaches 'request' in node:http). */
const FORBIDDEN = new Set(['CONNECT', 'TRACE', 'TRACK'])
/** Framing headers Node writes itself; a handler's copy would contradict them. */
const FRAMING = new Set(['connection', 'keep-alive', 'transfer-encoding'])
/** Statuses that never carry a body. */
const NO_BODY = new Set([204, 205, 304])

/**
 * Listens with node:http (node:https with `tls`) and serves `servable` (a gateway, or any
 * handler) with the client's address and protocol. Resolves once listening; rejects when it cannot
 * (the port is taken, a bad PEM). A handler that throws or returns no Response gets the generic
 * problem+json 500, reported to `options.logger`.
 *
 * @example
 * import { createGateway, loadConfig } from 'jwtgate'
 * import { runtimeDeps, serve } from 'jwtgate/node'
 *
 * const gateway = createGateway(await loadConfig(process.env), { ...runtimeDeps, connectionIdleMs: 120_000 })
 * const server = await serve(gateway, { port: 8080, idleTimeoutSec: 120 })
 * // later: gateway.drain(); await server.stop(); gateway.close()
 */
export function serve(servable: Servable, options: ServeOptions = {}): Promise<Server> {
  const handler = handlerOf(servable)
  const protocol = options.tls === undefined ? 'http' : 'https'
  const idleMs = Math.max(0, options.idleTimeoutSec ?? 0) * 1000
  let server: HttpServer
  try {
    server = options.tls === undefined
      ? createHttpServer()
      : createHttpsServer({ cert: options.tls.cert, key: options.tls.key })
  } catch (e) {
    return Promise.reject(e)
  }
  // Node cuts a request whose body takes over 5 minutes (requestTimeout): a long upload streams
  // through, so only headers are timed; silence is the idle timeout's (and the gateway's) job.
  server.requestTimeout = 0
  server.headersTimeout = HEADERS_TIMEOUT_MS
  server.keepAliveTimeout = idleMs > 0 ? idleMs : KEEP_ALIVE_MS
  // The socket idle timeout: with no 'timeout' listener, Node destroys a silent socket.
  server.setTimeout(idleMs)

  const state: State = { handler, protocol, stopping: false, server, logger: options.logger }
  server.on(
    'request',
    (req: IncomingMessage, res: ServerResponse) => void guarded(state, req, res, false),
  )
  // `Expect: 100-continue`: the 100 goes out only when the handler starts reading the body, so
  // a request refused on its headers (a bad token) never invites the upload.
  server.on(
    'checkContinue',
    (req: IncomingMessage, res: ServerResponse) => void guarded(state, req, res, true),
  )

  let closed: Promise<void> | undefined
  const stop = (force = false): Promise<void> => {
    state.stopping = true
    closed ??= new Promise((resolve) => server.close(() => resolve()))
    if (force) server.closeAllConnections()
    else server.closeIdleConnections()
    return closed
  }

  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 8080, options.hostname ?? '0.0.0.0', () => {
      server.off('error', reject)
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      resolve({ port, stop })
    })
  })
}

interface State {
  readonly handler: Handler
  readonly protocol: 'http' | 'https'
  readonly server: HttpServer
  readonly logger: Logger | undefined
  stopping: boolean
}

/** What became of the request body, to decide whether the connection can be reused. */
interface BodyUse {
  /** The handler started reading it. */
  read: boolean
  /** The handler cancelled it. */
  cancelled: boolean
  /** Stops feeding the stream (the exchange is over). */
  detach(): void
}

/**
 * `exchange`, and the last resort should it reject anyway: the connection is cut. Node ends the
 * process on an unhandled rejection, taking every other connection with it.
 */
function guarded(
  state: State,
  req: IncomingMessage,
  res: ServerResponse,
  expectsContinue: boolean,
): Promise<void> {
  return exchange(state, req, res, expectsContinue).catch(() => void res.destroy())
}

/** One request and its response. Never rejects: every failure ends in a status or a cut. */
async function exchange(
  state: State,
  req: IncomingMessage,
  res: ServerResponse,
  expectsContinue = false,
): Promise<void> {
  // A write to a connection the client already closed must not crash the process.
  res.on('error', () => {})
  const method = req.method ?? 'GET'
  const url = urlOf(req, state.protocol)
  if (url === undefined) return plain(res, 400, 'Bad Request')

  const aborted = new AbortController()
  res.once('close', () => {
    if (!res.writableFinished) aborted.abort(new Error('The client closed the connection.'))
  })
  const wireBody = req.headers['transfer-encoding'] !== undefined ||
    Number(req.headers['content-length'] ?? 0) > 0
  const use: BodyUse = { read: false, cancelled: false, detach: () => {} }
  if (FORBIDDEN.has(method)) {
    // A Request cannot carry these: the gateway's own 405 (problem+json, Allow), as under Bun and
    // Deno, whose servers hand them to the gateway.
    const refused = errorResponse(methodNotAllowed(), crypto.randomUUID())
    return void (await writeResponse(state, req, res, refused, wireBody, use))
  }
  let request: Request
  try {
    const headers = new Headers()
    const raw = req.rawHeaders
    for (let i = 0; i + 1 < raw.length; i += 2) headers.append(raw[i]!, raw[i + 1]!)
    const init: RequestInit & { duplex?: 'half' } = { method, headers, signal: aborted.signal }
    if (wireBody && !BODYLESS.has(method)) {
      init.body = requestBody(req, res, expectsContinue, use)
      init.duplex = 'half'
    }
    request = new Request(url, init)
  } catch {
    return plain(res, 400, 'Bad Request')
  }
  res.once('finish', () => {
    // The response is out: a body nobody will read is not read further; the connection closes
    // (keeping it would mean reading, or hanging on, the rest of an upload).
    if (wireBody && !req.complete) {
      use.detach()
      req.socket.destroySoon()
    }
    if (state.stopping) setImmediate(() => state.server.closeIdleConnections())
  })

  let response: Response
  try {
    response = await state.handler(request, {
      clientAddress: req.socket.remoteAddress,
      protocol: state.protocol,
    })
    if (!(response instanceof Response)) throw new TypeError('The handler returned no Response.')
  } catch (e) {
    // The handler's error stays here (its name in the log): the client learns only that it failed.
    response = failureResponse(e, state.logger)
    if (res.headersSent || res.destroyed) return void res.destroy()
  }
  await writeResponse(state, req, res, response, wireBody, use)
}

/**
 * The request's absolute URL: scheme from the socket, authority from a valid Host header (else
 * the local address: the gateway refuses an invalid Host itself), path and query from the target.
 * An absolute-form target gives only its path. Undefined for a target with no path (`*`).
 */
function urlOf(req: IncomingMessage, protocol: 'http' | 'https'): string | undefined {
  const target = req.url ?? '/'
  let path: string
  if (target.startsWith('/')) path = target
  else if (/^https?:\/\//i.test(target)) {
    try {
      const absolute = new URL(target)
      path = `${absolute.pathname}${absolute.search}`
    } catch {
      return undefined
    }
  } else return undefined
  const host = req.headers.host
  const authority = host !== undefined && isHostValue(host) ? host : localAuthority(req.socket)
  return `${protocol}://${authority}${path}`
}

function localAuthority(socket: Socket): string {
  const address = socket.localAddress ?? '127.0.0.1'
  return `${address.includes(':') ? `[${address}]` : address}:${socket.localPort ?? 0}`
}

/**
 * The request body as a stream read on demand: Node's stream is paused whenever nobody is
 * reading (highWaterMark 0), so an upload moves at the pace of whoever consumes it.
 */
function requestBody(
  req: IncomingMessage,
  res: ServerResponse,
  expectsContinue: boolean,
  use: BodyUse,
): ReadableStream<Uint8Array> {
  let controller!: ReadableStreamDefaultController<Uint8Array>
  let done = false
  const onData = (chunk: Buffer) => {
    if (done) return
    controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength))
    if ((controller.desiredSize ?? 0) <= 0) req.pause()
  }
  const onEnd = () => finish(() => controller.close())
  const onError = (e: Error) => finish(() => controller.error(e))
  const onClose = () =>
    finish(() => controller.error(new Error('The client closed the connection.')))
  const finish = (settle: () => void) => {
    if (done) return
    done = true
    req.off('data', onData).off('end', onEnd).off('error', onError).off('close', onClose)
    try {
      settle()
    } catch {
      // Already closed or errored.
    }
  }
  use.detach = () => finish(() => controller.error(new Error('The exchange is over.')))
  return new ReadableStream<Uint8Array>({
    start(c) {
      controller = c
    },
    pull() {
      if (!use.read) {
        use.read = true
        if (expectsContinue && !res.headersSent) res.writeContinue()
        req.on('data', onData).once('end', onEnd).once('error', onError).once('close', onClose)
      }
      if (!done) req.resume()
    },
    cancel() {
      use.cancelled = true
      finish(() => {})
    },
  }, { highWaterMark: 0 })
}

/** Writes status, headers and body; the body streamed, waiting for `drain`. */
async function writeResponse(
  state: State,
  req: IncomingMessage,
  res: ServerResponse,
  response: Response,
  wireBody: boolean,
  use: BodyUse,
): Promise<void> {
  const body = response.body
  if (res.destroyed) return void body?.cancel().catch(() => {})
  const head: string[] = []
  for (const [name, value] of response.headers) {
    // Headers iterate every Set-Cookie on its own: each stays its own line.
    if (!FRAMING.has(name)) head.push(name, value)
  }
  // An upload left unread (refused, or waiting for a 100 that never came) or cancelled: close
  // rather than read the rest (Node 20 does so itself; said here so no version differs); during a
  // graceful stop, close after this response.
  const unread = wireBody && !req.complete && (!use.read || use.cancelled)
  if (unread || state.stopping) head.push('connection', 'close')
  try {
    try {
      res.writeHead(response.status, response.statusText || undefined, head)
    } catch {
      // A reason phrase Node will not write (control characters): the status alone.
      res.writeHead(response.status, head)
    }
  } catch {
    // A header value Node refuses: nothing was sent yet.
    void body?.cancel().catch(() => {})
    return plain(res, 500, 'Internal Server Error')
  }
  if (body === null || req.method === 'HEAD' || NO_BODY.has(response.status)) {
    void body?.cancel().catch(() => {})
    return void res.end()
  }
  // A body without a length may be a slow stream (SSE): the head goes out now, not with it.
  if (!response.headers.has('content-length')) res.flushHeaders()
  let reader: ReadableStreamDefaultReader<Uint8Array>
  try {
    // Throws for a body already read or locked (a handler answering with one Response twice).
    reader = body.getReader()
  } catch {
    return void res.destroy()
  }
  const onClose = () => {
    // The client left mid-response: cancel the body (the gateway closes the upstream request).
    // A stream whose cancel fails (errored already, or its own cancel throws) is done with too.
    if (!res.writableFinished) {
      reader.cancel(new Error('The client closed the connection.')).catch(() => {})
    }
  }
  res.once('close', onClose)
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done || res.destroyed) break
      if (!res.write(value)) await drained(res)
    }
    if (!res.destroyed) res.end()
  } catch {
    // The body failed midway (the upstream broke): cut the connection, so the client sees a
    // truncated response rather than a complete-looking one.
    res.destroy()
  } finally {
    res.off('close', onClose)
  }
}

/** Resolves once `res` can take more, or is closed. */
function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done).off('close', done)
      resolve()
    }
    res.on('drain', done).on('close', done)
  })
}

/** A short text response written by the adapter itself. */
function plain(res: ServerResponse, status: number, text: string): void {
  if (res.destroyed) return
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': String(Buffer.byteLength(text)),
    // The request's body (if any) was not read.
    connection: 'close',
  })
  res.end(text)
}
