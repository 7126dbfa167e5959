/**
 * @module Streaming memory check: a 1 GiB upload and a 1 GiB download through dist/jwtgate, the
 * bytes made on the fly and dropped on arrival (nothing here holds more than one 64 KiB chunk),
 * while jwtgate's RSS is sampled every 20 ms. A gateway that buffers a body shows it as RSS
 * growing with the body; issue 6 wants the peak within 30 MB of idle. bun-passthrough goes
 * through the same transfers as the reference: what Bun's own server and fetch cost.
 *   node bench/stream.mjs [checkout]     (run.sh's tools are not needed: Node and the checkout)
 * Uploads and downloads go once chunked and once with a Content-Length.
 * Knobs: STREAM_BYTES (default 1 GiB), STREAM_TIMEOUT (s per transfer, 180), STREAM_CONFIGS
 * (jwtgate,bun-passthrough), BENCH_BIN, BUN. Report on stdout and in results/stream.md.
 */
import crypto from 'node:crypto'
import { once } from 'node:events'
import fs from 'node:fs'
import http from 'node:http'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { command } from './lib/configs.mjs'
import { get, HOST, waitForHttp } from './lib/http.mjs'
import { memoryMb, start, stop } from './lib/proc.mjs'
import { sign } from './lib/tokens.mjs'

const BENCH = path.dirname(fileURLToPath(import.meta.url))
const checkout = path.resolve(process.argv[2] ?? path.join(BENCH, '..'))
const env = process.env
const BYTES = Number(env.STREAM_BYTES ?? 2 ** 30)
const TIMEOUT_MS = Number(env.STREAM_TIMEOUT ?? 180) * 1000
const TARGET_MB = 30
const CHUNK = crypto.randomBytes(64 * 1024) // random: nothing on the way can compress it
const results = path.join(BENCH, 'results')
const DIRECTIONS = (env.STREAM_DIRECTIONS ??
  'upload, chunked;upload, sized;download;download, chunked').split(';')

/** Writes `total` bytes of CHUNK to `out`, waiting whenever it asks to (backpressure). */
async function pump(out, total, signal) {
  for (let sent = 0; sent < total;) {
    const n = Math.min(CHUNK.length, total - sent)
    sent += n
    if (!out.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) {
      await once(out, 'drain', { signal })
    }
  }
  out.end()
}

/** The upstream: POST counts and drops the body; GET /download?bytes=N streams N bytes (&chunked=1: without a length). */
function startUpstream() {
  const server = http.createServer(async (request, response) => {
    try {
      if (request.method === 'POST') {
        let received = 0
        for await (const chunk of request) received += chunk.length
        response.setHeader('content-type', 'application/json').end(
          JSON.stringify({ received }),
        )
        return
      }
      const query = new URL(request.url, 'http://x').searchParams
      const bytes = Number(query.get('bytes') ?? 0)
      response.writeHead(200, {
        'content-type': 'application/octet-stream',
        ...(query.get('chunked') === '1' ? {} : { 'content-length': bytes }),
      })
      await pump(response, bytes)
    } catch {
      // The proxy went away mid-transfer: the client side reports it.
      response.destroy()
    }
  })
  return new Promise((resolve) => server.listen(0, HOST, () => resolve(server)))
}

/** One transfer through the proxy on `port`; resolves to { seconds, bytes }, rejects on failure. */
function transfer(port, direction, token) {
  const sized = direction === 'upload, sized'
  const started = performance.now()
  const deadline = AbortSignal.timeout(TIMEOUT_MS)
  return new Promise((resolve, reject) => {
    const options = {
      host: HOST,
      port,
      agent: false,
      signal: deadline,
      headers: { authorization: `Bearer ${token}` },
    }
    const done = (bytes) => resolve({ seconds: (performance.now() - started) / 1000, bytes })
    if (direction.startsWith('upload')) {
      // Without a length the body is chunked; with one, a gateway may pass it on unwatched.
      const length = sized ? { 'content-length': String(BYTES) } : {}
      const request = http.request({
        ...options,
        method: 'POST',
        path: '/upload',
        headers: {
          ...options.headers,
          ...length,
          'content-type': 'application/octet-stream',
        },
      }, async (response) => {
        let body = ''
        for await (const chunk of response) body += chunk
        if (response.statusCode !== 200) {
          return reject(
            new Error(`upload: ${response.statusCode} ${body.slice(0, 200)}`),
          )
        }
        done(JSON.parse(body).received)
      })
      request.on('error', reject)
      pump(request, BYTES, deadline).catch(reject)
    } else {
      http
        .get({
          ...options,
          path: `/download?bytes=${BYTES}${direction === 'download, chunked' ? '&chunked=1' : ''}`,
        }, (response) => {
          if (response.statusCode !== 200) {
            return reject(new Error(`download: ${response.statusCode}`))
          }
          let received = 0
          response.on('data', (chunk) => (received += chunk.length))
          response.on('end', () => done(received))
          response.on('error', reject)
        })
        .on('error', reject)
    }
  })
}

/** Runs `fn` while sampling the RSS of `pid`; resolves to [result, peak MB]. */
async function sampled(pid, fn) {
  let peak = memoryMb(pid, 'VmRSS') ?? 0
  const timer = setInterval(
    () => (peak = Math.max(peak, memoryMb(pid, 'VmRSS') ?? 0)),
    20,
  )
  try {
    return [await fn(), peak]
  } finally {
    clearInterval(timer)
  }
}

async function measure(name, upstreamPort, token, secret, port) {
  const ctx = {
    bench: BENCH,
    bun: env.BUN ?? path.join(BENCH, '..', 'node_modules', '.bin', 'bun'),
    jwtgate: path.resolve(env.BENCH_BIN ?? path.join(checkout, 'dist/jwtgate')),
    upstreamPort,
    tokens: { secret, publicPem: '' },
  }
  if (name === 'jwtgate' && !fs.existsSync(ctx.jwtgate)) {
    throw new Error(`no ${ctx.jwtgate}: npm run build first`)
  }
  const spec = command(name, 'HS256', port, ctx)
  fs.mkdirSync(results, { recursive: true })
  const child = start(spec.cmd, spec.args, {
    env: spec.env,
    logFile: path.join(results, `stream-${name}.log`),
    cwd: BENCH,
  })
  try {
    const problem = await waitForHttp(port, child)
    if (problem !== undefined) throw new Error(`${name}: ${problem}`)
    for (let i = 0; i < 5; i++) {
      await get(port, '/download?bytes=1000', {
        authorization: `Bearer ${token}`,
      })
    }
    await new Promise((resolve) => setTimeout(resolve, 500))
    const idle = memoryMb(child.pid, 'VmRSS')
    const row = { name, idle }
    for (const direction of DIRECTIONS) {
      process.stderr.write(
        `stream: ${name} ${direction} of ${(BYTES / 2 ** 20).toFixed(0)} MiB\n`,
      )
      const [result, peak] = await sampled(
        child.pid,
        () => transfer(port, direction, token),
      )
      if (result.bytes !== BYTES) {
        throw new Error(
          `${name} ${direction}: ${result.bytes} of ${BYTES} bytes arrived`,
        )
      }
      row[direction] = { peak, mbps: BYTES / 2 ** 20 / result.seconds }
    }
    await new Promise((resolve) => setTimeout(resolve, 1000))
    row.after = memoryMb(child.pid, 'VmRSS')
    return row
  } finally {
    await stop(child)
  }
}

async function main() {
  const secret = crypto.randomBytes(32).toString('hex')
  const now = Math.floor(Date.now() / 1000)
  const token = sign(
    'HS256',
    { sub: 'streamer', iat: now, exp: now + 3600 },
    secret,
  )
  const upstream = await startUpstream()
  const rows = []
  try {
    const names = (env.STREAM_CONFIGS ?? 'jwtgate,bun-passthrough').split(',')
    for (const [i, name] of names.entries()) {
      rows.push(
        await measure(
          name,
          upstream.address().port,
          token,
          secret,
          Number(env.PORT_BASE ?? 18500) + 90 + i,
        ),
      )
    }
  } finally {
    upstream.close()
    upstream.closeAllConnections()
  }
  const mb = (x) => x.toFixed(1)
  const lines = [
    `# Streaming memory: ${(BYTES / 2 ** 30).toFixed(2)} GiB per transfer (${
      new Date().toISOString()
    })`,
    '',
    `| config | idle RSS MB | ${
      DIRECTIONS.map((d) => `${d}: peak RSS MB (+Δ), MiB/s`).join(' | ')
    } | RSS 1 s after, MB | peak ≤ idle + ${TARGET_MB} MB |`,
    `|---|--:|${DIRECTIONS.map(() => '--:').join('|')}|--:|---|`,
    ...rows.map((r) => {
      const worst = Math.max(...DIRECTIONS.map((d) => r[d].peak)) - r.idle
      const cells = DIRECTIONS.map((d) =>
        `${mb(r[d].peak)} (+${mb(r[d].peak - r.idle)}), ${r[d].mbps.toFixed(0)}`
      )
      return `| ${r.name} | ${mb(r.idle)} | ${cells.join(' | ')} | ${mb(r.after)} | ${
        worst <= TARGET_MB ? '✓' : '✗'
      } +${mb(worst)} |`
    }),
    '',
    'Chunked: the transfer has no Content-Length. RSS sampled every 20 ms from /proc/PID/status during each transfer; ' +
    'idle = after start and five small requests.',
    '',
  ].join('\n')
  fs.writeFileSync(path.join(results, 'stream.md'), lines)
  process.stdout.write(lines)
}

main().catch((error) => {
  process.stderr.write(`stream: ${error.stack ?? error}\n`)
  process.exit(1)
})
