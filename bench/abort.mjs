/**
 * @module What a proxy's abort of its upstream request does, where the CPU figures cannot show
 * it: the same upstream timeout (1 s) in jwtgate (`dist/jwtgate`: an AbortController per
 * request, released when the response headers arrive, and aborted when the client leaves),
 * bench/peers/bun-floor.ts (one per request, released at the headers, no watch of the client)
 * and the shared harness's bun-floor (`../shared/bench/peers/bun-floor.ts`, when present: one
 * controller shared by every request of a second, aborted 1–2 s later). Two questions each:
 * - does a response that streams longer than the timeout (server-sent events, 15 over 3 s)
 *   reach the client whole?
 * - when a client leaves before the upstream answered, when does the upstream see its request
 *   closed?
 *   node bench/abort.mjs [checkout]     (BUN, BENCH_BIN, SHARED_FLOOR: other executables or file)
 * Report on stdout. Everything on 127.0.0.1; every wait bounded.
 */
import crypto from 'node:crypto'
import fs from 'node:fs'
import http from 'node:http'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { get, HOST, waitForHttp } from './lib/http.mjs'
import { start, stop } from './lib/proc.mjs'
import { sign } from './lib/tokens.mjs'

const BENCH = path.dirname(fileURLToPath(import.meta.url))
const checkout = path.resolve(process.argv[2] ?? path.join(BENCH, '..'))
const env = process.env
const BUN = env.BUN ?? path.join(checkout, 'node_modules', '.bin', 'bun')
const BIN = env.BENCH_BIN ?? path.join(checkout, 'dist', 'jwtgate')
const SHARED_FLOOR = env.SHARED_FLOOR ??
  path.join(checkout, '..', 'shared', 'bench', 'peers', 'bun-floor.ts')
const TIMEOUT_MS = 1000
const EVENTS = 15
const EVENT_MS = 200
const LEAVE_MS = 300

/** When the upstream saw each probe's request closed (ms since the epoch), by `x-probe`. */
const closed = new Map()

/** `/events`: EVENTS events EVENT_MS apart, no length; `/hold`: no answer until the request closes. */
function startUpstream() {
  const server = http.createServer((request, response) => {
    if (request.url === '/events') {
      response.writeHead(200, {
        'content-type': 'text/event-stream',
        'cache-control': 'no-store',
      })
      let sent = 0
      const timer = setInterval(() => {
        response.write(`data: ${++sent}\n\n`)
        if (sent === EVENTS) {
          clearInterval(timer)
          response.end()
        }
      }, EVENT_MS)
      response.on('close', () => clearInterval(timer))
      return
    }
    if (request.url === '/hold') {
      const probe = String(request.headers['x-probe'])
      response.on('close', () => closed.set(probe, Date.now()))
      return
    }
    response.writeHead(404).end()
  })
  return new Promise((resolve) => server.listen(0, HOST, () => resolve(server)))
}

/** Reads /events through `port`: how many events arrived, in how long, and how it ended. */
function stream(port, headers) {
  const started = performance.now()
  return new Promise((resolve) => {
    let events = 0
    const end = (how) => resolve({ events, seconds: (performance.now() - started) / 1000, how })
    const request = http.get({
      host: HOST,
      port,
      path: '/events',
      headers,
      agent: false,
    }, (res) => {
      if (res.statusCode !== 200) return end(`status ${res.statusCode}`)
      res.setEncoding('utf8')
      res.on('data', (text) => (events += text.split('data: ').length - 1))
      res.on('end', () => end('ended'))
      res.on('error', () => end('cut'))
      res.on('aborted', () => end('cut'))
    })
    request.on('error', () => end('cut'))
    request.setTimeout(10_000, () => request.destroy())
  })
}

/** Asks for /hold through `port` and leaves after LEAVE_MS: ms until the upstream saw it closed. */
async function leave(port, headers, probe) {
  const request = http.get({
    host: HOST,
    port,
    path: '/hold',
    headers: { ...headers, 'x-probe': probe },
    agent: false,
  })
  request.on('error', () => {})
  await new Promise((resolve) => setTimeout(resolve, LEAVE_MS))
  const left = Date.now()
  request.destroy()
  for (const until = left + 3000; Date.now() < until && !closed.has(probe);) {
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  return closed.has(probe) ? closed.get(probe) - left : undefined
}

const upstream = await startUpstream()
const upstreamUrl = `http://${HOST}:${upstream.address().port}`
const secret = crypto.randomBytes(32).toString('hex')
const now = Math.floor(Date.now() / 1000)
const token = sign(
  'HS256',
  { sub: 'abort-bench', iat: now, exp: now + 600 },
  secret,
)

const proxies = [
  {
    name: 'jwtgate',
    available: fs.existsSync(BIN),
    cmd: BIN,
    args: [],
    env: (port) => ({
      JWTGATE_UPSTREAM: upstreamUrl,
      JWTGATE_HOST: HOST,
      JWTGATE_PORT: String(port),
      JWTGATE_SECRET: secret,
      JWTGATE_UPSTREAM_TIMEOUT: `${TIMEOUT_MS}ms`,
      JWTGATE_LOG_LEVEL: 'warn',
    }),
  },
  {
    name: 'bench/peers/bun-floor.ts',
    available: true,
    cmd: BUN,
    args: [path.join(BENCH, 'peers', 'bun-floor.ts')],
    env: (port) => ({
      BENCH_UPSTREAM: upstreamUrl,
      BENCH_PORT: String(port),
      BENCH_TIMEOUT_MS: String(TIMEOUT_MS),
    }),
  },
  {
    name: 'shared harness bun-floor',
    available: fs.existsSync(SHARED_FLOOR),
    cmd: BUN,
    args: [SHARED_FLOOR],
    env: (port) => ({
      PEER_UPSTREAM: upstreamUrl,
      PEER_HOST: HOST,
      PEER_PORT: String(port),
      PEER_TIMEOUT_MS: String(TIMEOUT_MS),
    }),
  },
]

const rows = []
let port = 18700 + (process.pid % 200)
for (const proxy of proxies) {
  if (!proxy.available) {
    rows.push(`| ${proxy.name} | not found | |`)
    continue
  }
  port++
  const child = start(proxy.cmd, proxy.args, { env: proxy.env(port) })
  try {
    const failed = await waitForHttp(port, child)
    if (failed !== undefined) throw new Error(`${proxy.name}: ${failed}`)
    const headers = { authorization: `Bearer ${token}` }
    if ((await get(port, '/', headers)).status !== 404) {
      throw new Error(`${proxy.name}: no 404`)
    }
    const s = await stream(port, headers)
    const ms = await leave(port, headers, proxy.name)
    rows.push(
      `| ${proxy.name} | ${s.events} of ${EVENTS} in ${s.seconds.toFixed(1)} s (${s.how}) | ${
        ms === undefined ? 'not within 3 s' : `${ms} ms`
      } |`,
    )
  } finally {
    await stop(child)
  }
}
upstream.close()
console.log(
  `Upstream timeout ${TIMEOUT_MS} ms everywhere; ${EVENTS} events ${EVENT_MS} ms apart; the client leaves after ${LEAVE_MS} ms.\n\n` +
    '| proxy | a 3 s event stream | upstream request closed after the client left |\n' +
    '|---|---|---|\n' +
    rows.join('\n'),
)
process.exit(0)
