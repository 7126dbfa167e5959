/**
 * @module The WebSocket benchmark (issue 16): jwtgate (dist/jwtgate) next to a bare Bun relay
 * (peers/bun-ws-relay.ts), in the same rounds, in front of one Bun upstream
 * (peers/ws-upstream.ts):
 *   - round trips: WS_CONNS connections, each sending a 64-byte message and waiting for its echo,
 *     for WS_SECONDS; round trips per second and the proxy's CPU per round trip;
 *   - throughput: one connection receiving WS_FLOOD_MB MiB in 64 KiB messages as fast as it can;
 *   - a slow reader: a raw connection reading WS_SLOW_MB MiB at WS_SLOW_RATE MiB/s while the
 *     upstream sends as fast as it may; the proxy's peak RSS above its idle RSS, and what became
 *     of the connection.
 * Runs under Bun (it needs a WebSocket client):
 *   node_modules/.bin/bun bench/websocket.mjs [checkout]
 * jwtgate-deno (`deno run -A src/deno.ts`, one worker) runs alongside unless WS_DENO=0; its
 * ratios are to the same Bun relay (Deno's own ceiling is lower: see the shared harness).
 * Knobs: WS_ROUNDS (3), WS_SECONDS (4), WS_CONNS (32), WS_FLOOD_MB (256), WS_SLOW_MB (50),
 * WS_SLOW_RATE (10), WS_DENO (1), BENCH_BIN. Report on stdout and in results/websocket.md.
 */
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { waitForHttp } from './lib/http.mjs'
import { cpuMicros, memoryMb, start, stop } from './lib/proc.mjs'
import { sign } from './lib/tokens.mjs'

const BENCH = path.dirname(fileURLToPath(import.meta.url))
const checkout = path.resolve(process.argv[2] ?? path.join(BENCH, '..'))
const env = process.env
const ROUNDS = Number(env.WS_ROUNDS ?? 3)
const SECONDS = Number(env.WS_SECONDS ?? 4)
const CONNS = Number(env.WS_CONNS ?? 32)
const FLOOD_MB = Number(env.WS_FLOOD_MB ?? 256)
const SLOW_MB = Number(env.WS_SLOW_MB ?? 50)
const SLOW_RATE = Number(env.WS_SLOW_RATE ?? 10)
const BUN = process.execPath
const BIN = env.BENCH_BIN ?? path.join(checkout, 'dist', 'jwtgate')
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const logs = path.join(BENCH, 'results', 'websocket-logs')
fs.mkdirSync(logs, { recursive: true })

const SECRET = 'bench-websocket-secret-of-at-least-32-bytes'
const now = Math.floor(Date.now() / 1000)
const TOKEN = sign('HS256', { sub: 'bench', iat: now, exp: now + 3600 }, SECRET)

const ports = { upstream: 19400, relay: 19401, jwtgate: 19402, deno: 19403 }
const DENO = path.join(checkout, 'node_modules', '.bin', 'deno')
const upstreamUrl = `http://127.0.0.1:${ports.upstream}`

async function launch(name, cmd, args, vars) {
  const child = start(cmd, args, { env: vars, logFile: path.join(logs, `${name}.log`) })
  await waitForHttp(vars.BENCH_PORT ?? vars.JWTGATE_PORT, child)
  return child
}

/** Opens a client WebSocket to `target`; resolves once open. */
function connect(target, pathname) {
  const headers = target.name.startsWith('jwtgate') ? { authorization: `Bearer ${TOKEN}` } : {}
  const ws = new WebSocket(`ws://127.0.0.1:${target.port}${pathname}`, { headers })
  ws.binaryType = 'arraybuffer'
  return new Promise((resolve, reject) => {
    ws.onopen = () => resolve(ws)
    ws.onerror = () => reject(new Error(`${target.name}: handshake failed`))
  })
}

/** Round trips per second over CONNS connections for SECONDS, and CPU per round trip. */
async function roundTrips(target) {
  const sockets = await Promise.all(Array.from({ length: CONNS }, () => connect(target, '/echo')))
  const message = 'x'.repeat(64)
  let count = 0
  let running = true
  const cpu0 = cpuMicros(target.child.pid)
  const started = performance.now()
  await Promise.all(
    sockets.map((ws) =>
      new Promise((resolve) => {
        ws.onmessage = () => {
          count++
          if (running) ws.send(message)
          else resolve()
        }
        ws.send(message)
      })
    ).concat(
      sleep(SECONDS * 1000).then(() => {
        running = false
      }),
    ),
  )
  const elapsed = (performance.now() - started) / 1000
  const cpu = cpuMicros(target.child.pid) - cpu0
  for (const ws of sockets) ws.close()
  await sleep(200)
  return { perSecond: count / elapsed, cpuPerTrip: cpu / count }
}

/** MiB per second one connection receives from a flooding upstream. */
async function throughput(target) {
  const ws = await connect(target, `/flood?mb=${FLOOD_MB}`)
  let bytes = 0
  const started = performance.now()
  await new Promise((resolve) => {
    ws.onmessage = (e) => (bytes += e.data.byteLength)
    ws.onclose = resolve
  })
  const elapsed = (performance.now() - started) / 1000
  return { mibPerSecond: bytes / 2 ** 20 / elapsed, complete: bytes >= FLOOD_MB * 2 ** 20 }
}

/**
 * A raw client that completes the handshake, then reads SLOW_MB MiB at SLOW_RATE MiB/s while
 * the upstream floods; the proxy's RSS is sampled every 20 ms.
 */
async function slowReader(target) {
  const idle = memoryMb(target.child.pid, 'VmRSS')
  let peak = idle
  const sampler = setInterval(() => {
    const rss = memoryMb(target.child.pid, 'VmRSS')
    if (rss !== undefined && rss > peak) peak = rss
  }, 20)
  const socket = net.connect(target.port, '127.0.0.1')
  const auth = target.name.startsWith('jwtgate') ? `Authorization: Bearer ${TOKEN}\r\n` : ''
  socket.write(
    `GET /flood?mb=${SLOW_MB} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n${auth}\r\n`,
  )
  let received = 0
  let closeCode
  let ended
  const started = performance.now()
  const perTick = SLOW_RATE * 2 ** 20 / 10 // bytes per 100 ms
  let budget = perTick
  const ticker = setInterval(() => {
    budget = perTick
    socket.resume()
  }, 100)
  await new Promise((resolve) => {
    const deadline = setTimeout(resolve, (SLOW_MB / SLOW_RATE + 20) * 1000)
    socket.on('data', (chunk) => {
      received += chunk.length
      // A close frame from the server: 0x88, then the length, then the code.
      const at = chunk.lastIndexOf(0x88)
      if (at >= 0 && at + 3 < chunk.length && chunk[at + 1] < 126) {
        closeCode = chunk.readUInt16BE(at + 2)
        // The close frame ends the measurement (this reader never answers it, and a server may
        // wait for the answer before it closes the connection).
        ended = performance.now()
        clearTimeout(deadline)
        resolve()
      }
      budget -= chunk.length
      if (budget <= 0) socket.pause()
    })
    socket.on('close', () => {
      clearTimeout(deadline)
      resolve()
    })
  })
  clearInterval(ticker)
  clearInterval(sampler)
  socket.destroy()
  return {
    idleMb: idle,
    peakAboveIdleMb: peak - idle,
    receivedMib: received / 2 ** 20,
    seconds: ((ended ?? performance.now()) - started) / 1000,
    closeCode,
  }
}

const median = (xs) => {
  const a = [...xs].sort((p, q) => p - q)
  return a.length % 2 ? a[a.length >> 1] : (a[a.length / 2 - 1] + a[a.length / 2]) / 2
}

const upstream = await launch('upstream', BUN, [path.join(BENCH, 'peers', 'ws-upstream.ts')], {
  BENCH_PORT: String(ports.upstream),
})
const jwtgateEnv = (port) => ({
  JWTGATE_UPSTREAM: upstreamUrl,
  JWTGATE_SECRET: SECRET,
  JWTGATE_HOST: '127.0.0.1',
  JWTGATE_PORT: String(port),
  JWTGATE_WORKERS: '1',
  JWTGATE_FORWARD_CLAIMS: 'sub=X-User-Id',
  JWTGATE_LOG_LEVEL: 'warn',
})
const targets = [
  {
    name: 'bun-ws-relay',
    port: ports.relay,
    child: await launch('relay', BUN, [path.join(BENCH, 'peers', 'bun-ws-relay.ts')], {
      BENCH_PORT: String(ports.relay),
      BENCH_UPSTREAM: upstreamUrl,
    }),
  },
  {
    name: 'jwtgate',
    port: ports.jwtgate,
    child: await launch('jwtgate', BIN, [], jwtgateEnv(ports.jwtgate)),
  },
]
if (env.WS_DENO !== '0' && fs.existsSync(DENO)) {
  targets.push({
    name: 'jwtgate-deno',
    port: ports.deno,
    child: await launch(
      'jwtgate-deno',
      DENO,
      ['run', '-A', path.join(checkout, 'src', 'deno.ts')],
      {
        ...jwtgateEnv(ports.deno),
        DENO_NO_UPDATE_CHECK: '1',
      },
    ),
  })
}

const results = Object.fromEntries(targets.map((t) => [t.name, { rtt: [], cpu: [], mib: [] }]))
for (let round = 0; round < ROUNDS; round++) {
  const order = round % 2 === 0 ? targets : [...targets].reverse()
  for (const target of order) {
    const r = await roundTrips(target)
    const t = await throughput(target)
    results[target.name].rtt.push(r.perSecond)
    results[target.name].cpu.push(r.cpuPerTrip)
    results[target.name].mib.push(t.mibPerSecond)
    console.error(
      `round ${round + 1} ${target.name}: ${r.perSecond.toFixed(0)} round trips/s, ${
        r.cpuPerTrip.toFixed(1)
      } µs CPU each; ${t.mibPerSecond.toFixed(0)} MiB/s${t.complete ? '' : ' (incomplete)'}`,
    )
  }
}
const slow = {}
for (const target of targets) slow[target.name] = await slowReader(target)

for (const t of targets) await stop(t.child)
await stop(upstream)

const relay = results['bun-ws-relay']
const ratio = (a, b) => a.map((x, i) => x / b[i])
const lines = [
  `# WebSocket benchmark`,
  '',
  `${
    new Date().toISOString()
  }; ${ROUNDS} rounds; ${CONNS} connections × ${SECONDS} s of 64-byte round trips; one connection receiving ${FLOOD_MB} MiB; a reader of ${SLOW_MB} MiB at ${SLOW_RATE} MiB/s; Bun ${Bun.version}; ${BIN}`,
  '',
  '| | round trips/s (median) | CPU µs per round trip | MiB/s to a fast reader |',
  '|---|--:|--:|--:|',
  ...targets.map((t) => {
    const r = results[t.name]
    return `| ${t.name} | ${median(r.rtt).toFixed(0)} | ${median(r.cpu).toFixed(1)} | ${
      median(r.mib).toFixed(0)
    } |`
  }),
  ...targets.slice(1).map((t) => {
    const r = results[t.name]
    return `| ${t.name} ÷ bun-ws-relay, per round | ${
      ratio(r.rtt, relay.rtt).map((x) => x.toFixed(2)).join(' / ')
    } | | ${ratio(r.mib, relay.mib).map((x) => x.toFixed(2)).join(' / ')} |`
  }),
  '',
  '| slow reader | idle RSS MB | peak above idle MB | MiB received | seconds | close code |',
  '|---|--:|--:|--:|--:|--:|',
  ...targets.map((t) => {
    const s = slow[t.name]
    return `| ${t.name} | ${s.idleMb?.toFixed(0)} | ${s.peakAboveIdleMb?.toFixed(0)} | ${
      s.receivedMib.toFixed(1)
    } | ${s.seconds.toFixed(1)} | ${s.closeCode ?? '—'} |`
  }),
  '',
]
const report = lines.join('\n')
fs.writeFileSync(path.join(BENCH, 'results', 'websocket.md'), report)
process.stdout.write(report)
process.exit(0)
