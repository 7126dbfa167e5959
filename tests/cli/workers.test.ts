/**
 * The parts of JWTGATE_WORKERS that need no process: the line protocol, the metrics merge, the
 * count `auto` comes to (cgroup quotas read through a fake file system), and the primary and a
 * worker each against the other's end played here (races a process cannot time: a worker ending
 * mid-reload, one that cannot be spawned). The processes themselves: tests/e2e/workers.test.ts.
 */
import { expect, test } from 'bun:test'
import type { Handler, Host } from '../../src/cli/host.ts'
import { handlerOf } from '../../src/adapters/types.ts'
import { Channel, type Message, readLines } from '../../src/cli/workers/channel.ts'
import { availableCores, cgroupQuota, workerCount } from '../../src/cli/workers/count.ts'
import { countsOf, mergeMetrics } from '../../src/cli/workers/metrics.ts'
import { type PrimaryTimings, runPrimary } from '../../src/cli/workers/primary.ts'
import { Shared } from '../../src/cli/workers/shared.ts'
import { runWorker, sharedFetch } from '../../src/cli/workers/worker.ts'
import { remoteSource } from '../../src/core/auth/jwks.ts'
import { loadConfig } from '../../src/core/config/load.ts'
import { silentLogger } from '../../src/core/log.ts'
import { jwksServer } from '../helpers/files.ts'
import { keyPair } from '../helpers/keys.ts'
import { COPY_GAUGES, Metrics } from '../../src/core/metrics.ts'
import { secret, sign } from '../helpers/keys.ts'
import { sleep } from '../helpers/process.ts'
import { parsePrometheus, sampleValue } from '../helpers/prometheus.ts'
import { recordingUpstream } from '../helpers/serve.ts'
import { pollUntil } from '../helpers/wait.ts'

/** Two channels wired to each other, as a primary and its worker are. */
function pair(answer: (m: Message, reply: (f: object) => void) => void) {
  const ends: { worker?: Channel } = {}
  const primary = new Channel((line) => void ends.worker!.receive(line), () => {})
  ends.worker = new Channel((line) => void primary.receive(line), answer)
  return { primary, worker: ends.worker }
}

test('Channel: a request gets its own reply; other lines are not messages', async () => {
  const { primary } = pair((m, reply) => reply({ echo: m.n }))
  const [a, b] = await Promise.all([
    primary.request({ t: 'x', n: 1 }, 1000),
    primary.request({ t: 'x', n: 2 }, 1000),
  ])
  expect([a.echo, b.echo]).toEqual([1, 2])
  expect(primary.receive('panic: something the runtime printed')).toBe(false)
  expect(primary.receive('\u001ejwtgate {not json')).toBe(false)
})

test('Channel: a request without a reply times out; closing rejects what waits', async () => {
  const { primary } = pair(() => {})
  await expect(primary.request({ t: 'x' }, 20)).rejects.toThrow('no reply to x within 20 ms')
  const waiting = primary.request({ t: 'x' }, 5000)
  primary.close()
  await expect(waiting).rejects.toThrow('the peer went away')
  await expect(primary.request({ t: 'x' }, 5000)).rejects.toThrow('closed')
  expect(primary.send({ t: 'x' })).toBe(false)
})

test('readLines: lines split across chunks, and a last line without a newline', async () => {
  const encoder = new TextEncoder()
  const chunks = ['ab', 'c\nde', 'f\n\ng', 'h']
  const stream = new ReadableStream<Uint8Array>({
    start(c) {
      for (const chunk of chunks) c.enqueue(encoder.encode(chunk))
      c.close()
    },
  })
  const lines: string[] = []
  await readLines(stream, (l) => lines.push(l))
  expect(lines).toEqual(['abc', 'def', '', 'gh'])
})

test('readLines: a line longer than the cap is dropped whole, never held; the lines around it pass', async () => {
  const encoder = new TextEncoder()
  const chunks = ['a\n', 'x'.repeat(8), 'y'.repeat(8), 'z\nb\n', 'w'.repeat(30)]
  const stream = new ReadableStream<Uint8Array>({
    start(c) {
      for (const chunk of chunks) c.enqueue(encoder.encode(chunk))
      c.close()
    },
  })
  const lines: string[] = []
  await readLines(stream, (l) => lines.push(l), 10)
  expect(lines).toEqual(['a', 'b'])
})

test('the primary keeps for the window only a document the workers can use: not an error page with a 200, not one over the cap, never a file or data URL', async () => {
  let calls = 0
  const answers = [
    () => new Response('<html>maintenance</html>', { headers: { 'content-type': 'text/html' } }),
    () => new Response('x'.repeat(2 * 1024 * 1024)),
    () => Response.json({ keys: [] }),
  ]
  const fetch =
    (() => Promise.resolve(answers[Math.min(calls++, 2)]!())) as unknown as typeof globalThis.fetch
  const config = await loadConfig({
    JWTGATE_UPSTREAM: 'http://127.0.0.1:9',
    JWTGATE_JWKS_URL: 'https://idp.test/jwks',
    JWTGATE_JWKS_COOLDOWN: '30s',
  })
  const shared = new Shared(config, fetch, () => 1000)
  await shared.fetchDocument('https://idp.test/jwks') // the error page: not kept
  await shared.fetchDocument('https://idp.test/jwks') // over the cap: not kept
  expect(calls).toBe(2)
  const good = await shared.fetchDocument('https://idp.test/jwks')
  expect(good).toMatchObject({ status: 200 })
  await shared.fetchDocument('https://idp.test/jwks') // kept: within the window
  expect(calls).toBe(3)
  for (const url of ['file:///etc/hostname', 'data:application/json,{}']) {
    expect(await shared.fetchDocument(url)).toEqual({ error: 'not an http or https URL' })
  }
  expect(calls).toBe(3)
})

test('mergeMetrics: counters, histograms and gauges add up; each family stays one group; start time is the earliest', () => {
  const a = new Metrics(2000_000)
  const b = new Metrics(1000_000)
  a.countRequest('orders', 'GET', 200, 0.002)
  b.countRequest('orders', 'GET', 200, 0.02)
  b.countRequest('users', 'POST', 401, 0.001) // a series only the second worker has
  a.inFlight.value = 2
  b.inFlight.value = 3
  const text = mergeMetrics([a.render(), b.render()])
  const { samples, types } = parsePrometheus(text)
  const requests = { route: 'orders', method_class: 'read', status: '200' }
  expect(sampleValue(samples, 'jwtgate_requests_total', requests)).toBe(2)
  expect(
    sampleValue(samples, 'jwtgate_requests_total', {
      route: 'users',
      method_class: 'write',
      status: '401',
    }),
  ).toBe(1)
  expect(sampleValue(samples, 'jwtgate_request_duration_seconds_count', { route: 'orders' }))
    .toBe(2)
  expect(
    sampleValue(samples, 'jwtgate_request_duration_seconds_bucket', {
      route: 'orders',
      le: '0.005',
    }),
  ).toBe(1)
  expect(sampleValue(samples, 'jwtgate_requests_in_flight')).toBe(5)
  expect(sampleValue(samples, 'jwtgate_process_start_time_seconds')).toBe(1000)
  expect(types.get('jwtgate_requests_total')).toBe('counter')
  // The users line sits with the other jwtgate_requests_total lines, not after later families.
  const lines = text.split('\n')
  const family = lines.flatMap((l, i) => (l.startsWith('jwtgate_requests_total') ? [i] : []))
  expect(family[family.length - 1]! - family[0]!).toBe(family.length - 1)
})

test('mergeMetrics: gauges of state every worker holds a copy of are the least, not the sum', () => {
  const store = (up: boolean) => ({ name: 'redis', up, failures: 1, fallbacks: 0 })
  const a = new Metrics(1000_000)
  const b = new Metrics(1000_000)
  a.stores.push(store(true))
  b.stores.push(store(false))
  a.revocations = { size: 3, confirmed: true }
  b.revocations = { size: 2, confirmed: false } // a sync behind
  const { samples } = parsePrometheus(mergeMetrics([a.render(), b.render()]))
  expect(sampleValue(samples, 'jwtgate_revocations')).toBe(2)
  expect(sampleValue(samples, 'jwtgate_revocations_confirmed')).toBe(0)
  expect(sampleValue(samples, 'jwtgate_store_up', { store: 'redis' })).toBe(0)
  expect(sampleValue(samples, 'jwtgate_store_failures_total', { store: 'redis' })).toBe(2)
  const agreed = parsePrometheus(mergeMetrics([a.render(), a.render()])).samples
  expect(sampleValue(agreed, 'jwtgate_revocations')).toBe(3)
  expect(sampleValue(agreed, 'jwtgate_store_up', { store: 'redis' })).toBe(1)
})

test('countsOf: a worker that ended leaves its counters and histograms, not its gauges', () => {
  const m = new Metrics(1000_000)
  m.countRequest('data', 'GET', 200, 0.002)
  m.countRequest('data', 'GET', 401, 0.001)
  m.inFlight.value = 3
  m.revocations = { size: 4, confirmed: true }
  const kept = parsePrometheus(countsOf(m.render())).samples
  const names = new Set(kept.map((s) => s.name))
  expect(names.has('jwtgate_requests_total')).toBe(true)
  expect(names.has('jwtgate_request_duration_seconds_bucket')).toBe(true)
  expect(sampleValue(kept, 'jwtgate_request_duration_seconds_count', { route: 'data' })).toBe(2)
  for (
    const gauge of [
      'jwtgate_requests_in_flight',
      'jwtgate_revocations',
      'jwtgate_start_time_seconds',
    ]
  ) {
    expect(names.has(gauge)).toBe(false)
  }
  // Each kept line under its own family's comments, as the merge reads them.
  expect(mergeMetrics([countsOf(m.render())])).toBe(countsOf(m.render()))
})

test('every gauge /metrics reports is either a share (summed over workers) or a copy (COPY_GAUGES)', () => {
  const metrics = new Metrics()
  metrics.stores.push({ name: 'redis', up: true, failures: 0, fallbacks: 0 })
  metrics.revocations = { size: 0, confirmed: true }
  const { types } = parsePrometheus(metrics.render())
  const gauges = [...types].filter(([, type]) => type === 'gauge').map(([name]) => name).sort()
  // A share of the gateway's work: the workers' values add up. The start time is the earliest.
  const shares = ['jwtgate_requests_in_flight', 'jwtgate_websocket_connections']
  const start = 'jwtgate_process_start_time_seconds'
  expect(gauges).toEqual([...shares, ...COPY_GAUGES, start].sort())
})

const files = (map: Record<string, string>) => (path: string) => {
  if (path in map) return map[path]!
  throw new Error('ENOENT')
}

test('a key set the primary shares: a copy counts the cooldown from its fetch, so a rotation reaches every worker within one cooldown', async () => {
  const k1 = await keyPair('ES256', 'k1')
  const k2 = await keyPair('ES256', 'k2')
  const jwks = jwksServer([k1.publicJwk])
  let now = 1_000_000
  const clock = () => now
  try {
    const config = await loadConfig({
      JWTGATE_UPSTREAM: 'http://127.0.0.1:9',
      JWTGATE_JWKS_URL: jwks.url,
      JWTGATE_JWKS_COOLDOWN: '30s',
    })
    const shared = new Shared(config, globalThis.fetch, clock)
    // A worker's key source, asking the primary over its channel (worker.ts's keyFetch); pair()'s
    // second end answers, as the primary's does.
    const worker = () => {
      const { primary: channel } = pair((m, reply) =>
        void shared.fetchDocument(String(m.url)).then(reply)
      )
      return remoteSource({
        ...config.providers[0]!.keys,
        algorithms: undefined,
        fetch: ((url: string, init?: RequestInit) =>
          sharedFetch(channel, url, init)) as typeof fetch,
        now: clock,
        logger: silentLogger,
      })
    }
    const first = worker()
    first.start()
    await pollUntil(() => Promise.resolve(first.current() !== undefined), 3000)
    expect(jwks.fetches).toBe(1)
    // The key rotates 10 s after the primary's fetch; a second worker is given the kept copy.
    now += 10_000
    jwks.keys = [k1.publicJwk, k2.publicJwk]
    const second = worker()
    second.start()
    await pollUntil(() => Promise.resolve(second.current() !== undefined), 3000)
    expect(jwks.fetches).toBe(1)
    expect(second.current()!.map((k) => k.kid)).toEqual(['k1'])
    // Within the cooldown of the copy's fetch: nothing fetched, for either worker.
    now += 19_000
    expect(await second.refresh()).toBe(false)
    expect(jwks.fetches).toBe(1)
    // One cooldown after the primary's fetch (not after the second worker's ask, 10 s later).
    now += 1_001
    expect(await second.refresh()).toBe(true)
    expect(jwks.fetches).toBe(2)
    expect(second.current()!.map((k) => k.kid)).toEqual(['k1', 'k2'])
    first.close()
    second.close()
  } finally {
    jwks.stop()
  }
})

test('the primary keeps no copy of a key set from the future (a clock stepped back), nor one older than a reload’s shorter window', async () => {
  const k1 = await keyPair('ES256', 'k1')
  const jwks = jwksServer([k1.publicJwk])
  let now = 1_000_000
  const env = (cooldown: string) => ({
    JWTGATE_UPSTREAM: 'http://127.0.0.1:9',
    JWTGATE_JWKS_URL: jwks.url,
    JWTGATE_JWKS_COOLDOWN: cooldown,
  })
  try {
    const long = await loadConfig(env('30s'))
    const short = await loadConfig(env('5s'))
    const shared = new Shared(long, globalThis.fetch, () => now)
    const ask = () => shared.fetchDocument(jwks.url) as Promise<{ status: number; ageMs?: number }>
    expect((await ask()).status).toBe(200)
    expect(jwks.fetches).toBe(1)
    now -= 60_000 // the clock steps back a minute: the copy is not 60 s younger than nothing
    await ask()
    expect(jwks.fetches).toBe(2)
    now += 10_000
    expect((await ask()).ageMs).toBe(10_000) // within the window: the copy, with its age
    expect(jwks.fetches).toBe(2)
    // A reload to a 5 s cooldown: during it the window is the shorter of the two.
    shared.configure(long, short)
    expect((await ask()).ageMs).toBeUndefined()
    expect(jwks.fetches).toBe(3)
  } finally {
    jwks.stop()
  }
})

test('workers auto under Bun: three for every four cores — the CPUs, capped by the tightest cgroup quota on the way to the root, rounded down', () => {
  // As under Bun: a worker keeps ~4/3 cores busy.
  const linux = (cpus: number, map: Record<string, string>) => ({
    platform: 'linux',
    cpuCount: () => cpus,
    readFile: files(map),
    coresPerWorker: 4 / 3,
  })
  expect(workerCount('auto', linux(8, {}))).toBe(6)
  expect(workerCount('auto', linux(16, {}))).toBe(12)
  expect(workerCount('auto', linux(4, {}))).toBe(3)
  expect(workerCount('auto', linux(2, {}))).toBe(1)
  expect(workerCount('auto', linux(1, {}))).toBe(1)
  expect(workerCount(3, linux(8, {}))).toBe(3)
  expect(workerCount(2, linux(1, {}))).toBe(2)
  const systemd = {
    '/proc/self/cgroup': '0::/system.slice/jwtgate.service\n',
    '/sys/fs/cgroup/cpu.max': 'max 100000',
    '/sys/fs/cgroup/system.slice/cpu.max': '400000 100000',
    '/sys/fs/cgroup/system.slice/jwtgate.service/cpu.max': '250000 100000',
  }
  expect(cgroupQuota(files(systemd))).toBe(2.5)
  expect(availableCores(linux(8, systemd))).toBe(2)
  expect(workerCount('auto', linux(8, systemd))).toBe(1)
  expect(availableCores(linux(8, { '/sys/fs/cgroup/cpu.max': '50000 100000' }))).toBe(1)
  expect(availableCores(linux(2, { '/sys/fs/cgroup/cpu.max': '800000 100000' }))).toBe(2)
  expect(workerCount('auto', linux(16, { '/sys/fs/cgroup/cpu.max': '400000 100000' }))).toBe(3)
  // cgroup v1
  expect(
    workerCount(
      'auto',
      linux(8, {
        '/sys/fs/cgroup/cpu/cpu.cfs_quota_us': '300000',
        '/sys/fs/cgroup/cpu/cpu.cfs_period_us': '100000',
      }),
    ),
  ).toBe(2)
  expect(cgroupQuota(files({ '/sys/fs/cgroup/cpu/cpu.cfs_quota_us': '-1' }))).toBeUndefined()
})

test('workers auto under Deno: one per core (a worker keeps one core busy)', () => {
  const deno = (cpus: number) => ({ platform: 'linux', cpuCount: () => cpus, readFile: files({}) })
  expect(workerCount('auto', deno(2))).toBe(2)
  expect(workerCount('auto', deno(1))).toBe(1)
  expect(workerCount('auto', { ...deno(8), coresPerWorker: 1 })).toBe(8)
})

test('workers elsewhere than Linux: auto is one; more than one is refused with the reason', () => {
  const mac = { platform: 'darwin', cpuCount: () => 8, readFile: files({}) }
  expect(workerCount('auto', mac)).toBe(1)
  expect(workerCount(1, mac)).toBe(1)
  expect(workerCount(4, mac)).toContain('needs Linux')
})

// The primary and a worker, each with the other end scripted by the test: what happens when a
// worker ends, cannot be started, or is starting while a reload comes.

const HS = secret(32)
const CONFIG_PATH = '/etc/jwtgate.yaml'

/** A configuration file whose one route needs `scope`. */
const gatewayFile = (scope: string, upstream = 'http://127.0.0.1:9') =>
  `log: {format: json}
providers:
  main: {secret: "${HS.config}"}
upstreams:
  app: {url: "${upstream}"}
routes:
  - {name: data, path: /data/*, upstream: app, require: {scopes: {all: [${scope}]}}}
`

/** What every test host shares: the file system, the output, the signals. */
function baseHost(files: Record<string, string>) {
  const out: string[] = []
  const err: string[] = []
  const listeners: { signal?: (s: string) => void; reload?: () => void } = {}
  const host: Host = {
    runtime: 'test',
    env: {},
    readFile(path) {
      if (!(path in files)) throw new Error('ENOENT')
      return files[path]!
    },
    networks: () => [],
    appendFile() {},
    stdout: (l) => void out.push(l),
    stderr: (l) => void err.push(l),
    serve: () => Promise.reject(new Error('no listener in this test')),
    onSignal: (l) => void (listeners.signal = l),
    exit: (code) => {
      throw new Error(`exit ${code}`)
    },
    onReload: (l) => void (listeners.reload = l),
    watchFile: () => () => {},
    gatewayDeps: { fetchInit: { decompress: false } },
    platform: 'linux',
    pid: 1,
    cpuCount: () => 2,
    coresPerWorker: 1,
    stdin: () => new ReadableStream(),
    spawnWorker: () => {
      throw new Error('no workers in this test host')
    },
  }
  const events = (name: string) =>
    out.map((l) => JSON.parse(l) as Record<string, unknown>).filter((e) => e.event === name)
  return {
    host,
    out,
    err,
    events,
    signal: () => listeners.signal?.('SIGTERM'),
    reload: () => listeners.reload?.(),
  }
}

/** A worker process as the primary sees it, played by the test. */
interface FakeWorker {
  /** Its number (`_JWTGATE_WORKER`). */
  readonly index: number
  readonly pid: number
  /** The configuration text it was given at start, then reloaded to. */
  runs?: string
  /** The gateway's start text, given with `runs` to a worker started after a reload. */
  start?: string
  /** The messages from the primary (requests and others, not replies). */
  readonly received: Message[]
  readonly gone: boolean
  /** Ends it: exit code 0 (drained), or killed. */
  exit(signal?: string): void
  /** Sends the primary a request, as a worker does; its reply. */
  ask(fields: { readonly t: string }): Promise<Message>
}

/**
 * A host whose workers are played by the test: each asks for its configuration, then says it is
 * ready; it answers a reload with `onReload` (by default: applied), and ends when told to drain.
 * `onSpawn` may throw (the program cannot be started).
 */
function primaryHost(script: {
  onSpawn?: (attempt: number) => void
  onReload?: (worker: FakeWorker, text: string, reply: (fields: object) => void) => void
  /** Its answer to a status request (default: ready, no metrics); undefined: no answer. */
  onStatus?: (worker: FakeWorker) => object | undefined
} = {}) {
  const files: Record<string, string> = { [CONFIG_PATH]: gatewayFile('read') }
  const base = baseHost(files)
  const workers: FakeWorker[] = []
  let attempts = 0
  const encoder = new TextEncoder()
  base.host.spawnWorker = (env) => {
    script.onSpawn?.(attempts++)
    let output!: ReadableStreamDefaultController<Uint8Array>
    const stderr = new ReadableStream<Uint8Array>({ start: (c) => void (output = c) })
    let lines!: ReadableStreamDefaultController<Uint8Array>
    const stdout = new ReadableStream<Uint8Array>({ start: (c) => void (lines = c) })
    let exited!: (how: { code: number | null; signal: string | null }) => void
    const worker: FakeWorker = {
      index: Number(env._JWTGATE_WORKER),
      pid: 100 + workers.length,
      received: [],
      gone: false,
      exit(signal) {
        if (worker.gone) return
        Object.assign(worker, { gone: true })
        channel.close()
        output.close()
        lines.close()
        exited(signal === undefined ? { code: 0, signal: null } : { code: null, signal })
      },
      ask: (fields) => channel.request(fields, 2000),
    }
    const channel = new Channel(
      (line) => output.enqueue(encoder.encode(`${line}\n`)),
      (message, reply) => {
        worker.received.push(message)
        if (message.t === 'status') {
          const status = script.onStatus === undefined
            ? { ready: true, inFlight: 0, metrics: '' }
            : script.onStatus(worker)
          if (status !== undefined) reply(status)
        } else if (message.t === 'drain') setTimeout(() => worker.exit(), 1)
        else if (message.t === 'reload') {
          const text = (message.file as { text: string }).text
          if (script.onReload !== undefined) script.onReload(worker, text, reply)
          else {
            worker.runs = text
            reply({ ok: true })
          }
        }
      },
    )
    workers.push(worker)
    void channel.request({ t: 'config' }, 1000).then((reply) => {
      worker.runs = (reply.file as { text: string }).text
      worker.start = (reply.start as { text: string } | undefined)?.text
      channel.send({ t: 'ready', port: 8080 })
    }, () => {})
    return {
      pid: worker.pid,
      write(text) {
        if (worker.gone) throw new Error('EPIPE')
        // A pipe: what is written arrives later.
        for (const line of text.split('\n')) {
          if (line !== '') setTimeout(() => void channel.receive(line), 0)
        }
      },
      stderr,
      stdout,
      exited: new Promise((resolve) => (exited = resolve)),
      kill: (signal) => worker.exit(signal),
    }
  }
  /** The workers running now, by their number. */
  const running = (index: number) => workers.filter((w) => w.index === index && !w.gone)
  return { ...base, files, workers, running }
}

/** Runs the primary of two workers on `h` until its start line; its exit code to come. */
async function startPrimary(h: ReturnType<typeof primaryHost>, timings?: PrimaryTimings) {
  const exit = runPrimary(h.host, { JWTGATE_CONFIG: CONFIG_PATH }, 2, timings)
  await pollUntil(() => h.events('start').length === 1, 2000, 5)
  return { exit }
}

/** Edits the file and sends SIGHUP. */
function reloadTo(h: ReturnType<typeof primaryHost>, scope: string): void {
  h.files[CONFIG_PATH] = gatewayFile(scope)
  h.reload()
}

test('primary: a worker started while a reload is in flight is given the new text', async () => {
  let release!: () => void
  const h = primaryHost({
    onReload(worker, text, reply) {
      const apply = () => {
        worker.runs = text
        reply({ ok: true })
      }
      if (worker.index === 2) release = apply // worker 2 answers when the test says
      else apply()
    },
  })
  const { exit } = await startPrimary(h)
  reloadTo(h, 'admin')
  await pollUntil(
    () => release !== undefined && h.running(1)[0]!.runs === gatewayFile('admin'),
    2000,
    5,
  )
  h.running(1)[0]!.exit('SIGKILL') // restarted after 100 ms: it asks for its configuration
  await pollUntil(() => h.running(1)[0]?.runs !== undefined, 2000, 5)
  expect(h.running(1)[0]!.runs).toBe(gatewayFile('admin'))
  // With the text the gateway started with: what only a restart changes is taken from it.
  expect(h.running(1)[0]!.start).toBe(gatewayFile('read'))
  release()
  await pollUntil(() => h.events('reload').length === 1, 2000, 5)
  expect(h.events('reload_failed')).toEqual([])
  expect(h.workers.filter((w) => !w.gone).map((w) => w.runs)).toEqual(
    Array(2).fill(gatewayFile('admin')),
  )
  h.signal()
  expect(await exit).toBe(0)
})

test('primary: a worker that ends during a reload does not fail it — started again, it loads the new text', async () => {
  const h = primaryHost({
    onReload(worker, text, reply) {
      if (worker.index === 1) return worker.exit('SIGKILL') // it dies before it answers
      worker.runs = text
      reply({ ok: true })
    },
  })
  const { exit } = await startPrimary(h)
  reloadTo(h, 'admin')
  await pollUntil(() => h.events('reload').length + h.events('reload_failed').length > 0, 2000, 5)
  expect(h.events('reload_failed')).toEqual([])
  expect(h.events('reload')[0]).toMatchObject({ trigger: 'SIGHUP', workers: 2 })
  await pollUntil(() => h.running(1)[0]?.runs !== undefined, 2000, 5)
  expect(h.running(1)[0]!.runs).toBe(gatewayFile('admin'))
  const other = h.running(2)[0]!
  expect(other.runs).toBe(gatewayFile('admin'))
  expect(other.received.filter((m) => m.t === 'reload')).toHaveLength(1)
  h.signal()
  expect(await exit).toBe(0)
})

test('primary: a worker that answers a reload with an error fails it for all — the others go back, and a worker started later is given the previous text', async () => {
  const h = primaryHost({
    onReload(worker, text, reply) {
      if (worker.index === 1 && text === gatewayFile('admin')) {
        return reply({ ok: false, problems: ['providers.main.secret: cannot read'] })
      }
      worker.runs = text
      reply({ ok: true })
    },
  })
  const { exit } = await startPrimary(h)
  reloadTo(h, 'admin')
  await pollUntil(() => h.events('reload_failed').length === 1, 2000, 5)
  expect(h.events('reload_failed')[0]).toMatchObject({
    trigger: 'SIGHUP',
    workers: ['1'],
    problems: ['providers.main.secret: cannot read'],
  })
  expect(h.events('reload')).toEqual([])
  // Worker 2 had applied it: it was given the previous text back.
  const other = h.running(2)[0]!
  expect(
    other.received.filter((m) => m.t === 'reload').map((m) => (m.file as { text: string }).text),
  )
    .toEqual([gatewayFile('admin'), gatewayFile('read')])
  expect(h.workers.map((w) => w.runs)).toEqual(Array(2).fill(gatewayFile('read')))
  other.exit('SIGKILL')
  await pollUntil(() => h.running(2)[0]?.runs !== undefined, 2000, 5)
  expect(h.running(2)[0]!.runs).toBe(gatewayFile('read'))
  h.signal()
  expect(await exit).toBe(0)
})

test('primary: a worker that does not answer a reload in time is killed and started again with the new text; the reload holds', async () => {
  const h = primaryHost({
    onReload(worker, text, reply) {
      if (worker.index === 1) return // never answers
      worker.runs = text
      reply({ ok: true })
    },
  })
  const { exit } = await startPrimary(h, { reloadTimeoutMs: 50 })
  const stuck = h.running(1)[0]!
  reloadTo(h, 'admin')
  await pollUntil(() => h.events('reload').length === 1, 2000, 5)
  expect(h.events('worker_unresponsive')[0]).toMatchObject({ worker: 1, pid: stuck.pid })
  expect(stuck.gone).toBe(true)
  expect(h.events('worker_exit')[0]).toMatchObject({ worker: 1, signal: 'SIGKILL' })
  await pollUntil(() => h.running(1)[0]?.runs !== undefined, 2000, 5)
  expect(h.running(1)[0]!.runs).toBe(gatewayFile('admin'))
  h.signal()
  expect(await exit).toBe(0)
})

test('primary: SIGTERM while a worker waits to be started again — the others drain, exit 0, nothing started', async () => {
  const h = primaryHost()
  const { exit } = await startPrimary(h)
  h.running(1)[0]!.exit('SIGKILL')
  await pollUntil(() => h.events('worker_exit').length === 1, 2000, 5)
  expect(h.events('worker_exit')[0]).toMatchObject({ worker: 1, restart_in_ms: 100 })
  h.signal()
  expect(await exit).toBe(0)
  expect(h.events('stopped')[0]).not.toHaveProperty('reason')
  expect(h.workers).toHaveLength(2)
  await sleep(150) // past the back-off: still nothing started
  expect(h.workers).toHaveLength(2)
})

test('primary: a worker that cannot be spawned is tried again with its back-off, each failure logged', async () => {
  const h = primaryHost({
    onSpawn(attempt) {
      if (attempt === 2 || attempt === 3) throw new Error('ENOENT: posix_spawn /opt/jwtgate')
    },
  })
  const { exit } = await startPrimary(h)
  h.running(1)[0]!.exit('SIGKILL')
  await pollUntil(() => h.events('worker_restart').length === 1, 3000, 5)
  expect(h.events('worker_exit')[0]).toMatchObject({ worker: 1, restart_in_ms: 100 })
  expect(h.events('worker_start_failed')).toEqual([
    expect.objectContaining({
      worker: 1,
      error: 'ENOENT: posix_spawn /opt/jwtgate',
      restart_in_ms: 200,
    }),
    expect.objectContaining({ worker: 1, restart_in_ms: 400 }),
  ])
  expect(h.running(1)).toHaveLength(1)
  // And a SIGTERM during such a wait still ends with 0.
  h.running(1)[0]!.exit('SIGKILL')
  await pollUntil(() => h.events('worker_exit').length === 2, 2000, 5)
  h.signal()
  expect(await exit).toBe(0)
})

test("primary: a worker's readyz ask is every worker's status — asks that come together share one status round", async () => {
  let ready = true
  const h = primaryHost({ onStatus: () => ({ ready, inFlight: 0 }) })
  const { exit } = await startPrimary(h)
  const [one, two] = [h.running(1)[0]!, h.running(2)[0]!]
  const statuses = () => [one, two].map((w) => w.received.filter((m) => m.t === 'status').length)
  const answers = await Promise.all(
    Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? one : two).ask({ t: 'readyz' })),
  )
  expect(answers.map((a) => a.ready)).toEqual(Array(20).fill(true))
  expect(statuses()).toEqual([1, 1])
  // The status request leaves out the metrics text, which only /metrics needs.
  expect(one.received.find((m) => m.t === 'status')).toMatchObject({ metrics: false })
  ready = false
  expect((await one.ask({ t: 'readyz' })).ready).toBe(false)
  expect(statuses()).toEqual([2, 2])
  h.signal()
  expect(await exit).toBe(0)
})

test('worker: /readyz on its port asks the primary — once for probes that come together or within a second — and is 503 when the primary says not ready', async () => {
  const upstream = await recordingUpstream(() => new Response('ok'))
  try {
    const base = baseHost({})
    const encoder = new TextEncoder()
    let input!: ReadableStreamDefaultController<Uint8Array>
    let asks = 0
    let everyReady = true
    const primary = new Channel(
      (line) => input.enqueue(encoder.encode(`${line}\n`)),
      (message, reply) => {
        if (message.t === 'config') {
          reply({ file: { path: CONFIG_PATH, text: gatewayFile('read', upstream.url) } })
        } else if (message.t === 'readyz') {
          asks++
          setTimeout(() => reply({ ready: everyReady }), 20)
        }
      },
    )
    let handler: Handler | undefined
    const host: Host = {
      ...base.host,
      stdin: () => new ReadableStream<Uint8Array>({ start: (c) => void (input = c) }),
      stderr: (line) => void (primary.receive(line) || base.err.push(line)),
      serve(h) {
        handler = handlerOf(h)
        return Promise.resolve({ port: 8080, stop: () => Promise.resolve() })
      },
    }
    const exit = runWorker(host, { JWTGATE_CONFIG: CONFIG_PATH }, { index: 1, port: undefined })
    await pollUntil(() => handler !== undefined, 2000, 5)
    const probe = async () =>
      (await handler!(new Request('http://gateway/readyz'), { clientAddress: '127.0.0.1' })).status
    expect(await Promise.all(Array.from({ length: 20 }, probe))).toEqual(Array(20).fill(200))
    expect(asks).toBe(1)
    expect(await probe()).toBe(200) // the answer of a moment ago
    expect(asks).toBe(1)
    everyReady = false
    await sleep(1100)
    expect(await probe()).toBe(503)
    expect(asks).toBe(2)
    // /healthz asks nothing.
    expect((await handler!(new Request('http://gateway/healthz'), {})).status).toBe(200)
    expect(asks).toBe(2)
    primary.send({ t: 'drain' })
    expect(await exit).toBe(0)
  } finally {
    await upstream.close()
  }
})

test('worker: a reload that comes while it starts is answered once applied, and it serves with it', async () => {
  const upstream = await recordingUpstream(() => new Response('ok'))
  try {
    const base = baseHost({})
    const encoder = new TextEncoder()
    let input!: ReadableStreamDefaultController<Uint8Array>
    const primary = new Channel(
      (line) => input.enqueue(encoder.encode(`${line}\n`)),
      (message, reply) => {
        if (message.t === 'config') {
          reply({ file: { path: CONFIG_PATH, text: gatewayFile('read', upstream.url) } })
        }
      },
    )
    let listened!: () => void
    const listening = new Promise<void>((resolve) => (listened = resolve))
    let handler: Handler | undefined
    const host: Host = {
      ...base.host,
      stdin: () => new ReadableStream<Uint8Array>({ start: (c) => void (input = c) }),
      stderr: (line) => void (primary.receive(line) || base.err.push(line)),
      async serve(h) {
        handler = handlerOf(h)
        await listening // the listener takes its time
        return { port: 8080, stop: () => Promise.resolve() }
      },
    }
    const exit = runWorker(host, { JWTGATE_CONFIG: CONFIG_PATH }, { index: 1, port: undefined })
    await pollUntil(() => handler !== undefined, 2000, 5)
    let answer: Message | undefined
    const reloaded = primary.request({
      t: 'reload',
      file: { path: CONFIG_PATH, text: gatewayFile('admin', upstream.url) },
    }, 2000).then((reply) => (answer = reply))
    // Answered in order: once the status is, the reload has been read.
    await primary.request({ t: 'status' }, 2000)
    expect(answer).toBeUndefined()
    listened()
    expect(await reloaded).toMatchObject({ ok: true, routes: 1 })
    const token = await sign({ sub: 'ann', scope: 'read' }, { alg: 'HS256', key: HS.raw })
    const response = await handler!(
      new Request('http://gateway/data/x', { headers: { authorization: `Bearer ${token}` } }),
      { clientAddress: '127.0.0.1' },
    )
    expect(response.status).toBe(403)
    expect(upstream.seen).toHaveLength(0)
    primary.send({ t: 'drain' })
    expect(await exit).toBe(0)
  } finally {
    await upstream.close()
  }
})

test('worker: a reload that comes before it listens keeps what only a restart changes — it listens where the others listen', async () => {
  const base = baseHost({})
  const encoder = new TextEncoder()
  let input!: ReadableStreamDefaultController<Uint8Array>
  const started = `listen: {host: 127.0.0.1, port: 8181}\n${gatewayFile('read')}`
  const moved = `listen: {host: 0.0.0.0, port: 9191}\n${gatewayFile('admin')}`
  let reloaded: Promise<Message> | undefined
  const primary = new Channel(
    (line) => input.enqueue(encoder.encode(`${line}\n`)),
    (message, reply) => {
      if (message.t === 'config') {
        // A reload the primary sent while this worker was being started again: it comes first.
        reloaded = primary.request({ t: 'reload', file: { path: CONFIG_PATH, text: moved } }, 2000)
        reply({ file: { path: CONFIG_PATH, text: started } })
      }
    },
  )
  const served: { host?: string; port?: number }[] = []
  const host: Host = {
    ...base.host,
    stdin: () => new ReadableStream<Uint8Array>({ start: (c) => void (input = c) }),
    stderr: (line) => void (primary.receive(line) || base.err.push(line)),
    serve(_h, options) {
      served.push({ host: options.host, port: options.port })
      return Promise.resolve({ port: options.port ?? 0, stop: () => Promise.resolve() })
    },
  }
  const exit = runWorker(host, { JWTGATE_CONFIG: CONFIG_PATH }, { index: 1, port: undefined })
  await pollUntil(() => served.length > 0, 2000, 5)
  expect(await reloaded).toMatchObject({ ok: true })
  expect(served).toEqual([{ host: '127.0.0.1', port: 8181 }])
  primary.send({ t: 'drain' })
  expect(await exit).toBe(0)
})

test('primary: /metrics never goes back — a worker that misses a scrape counts as it last answered, one that ended leaves its counts', async () => {
  const requests = new Map<number, number>() // by worker pid
  let silent: number | undefined // the pid that does not answer
  const render = (n: number) => {
    const m = new Metrics(1000_000)
    for (let i = 0; i < n; i++) m.countRequest('data', 'GET', 200, 0.001)
    m.inFlight.value = 1
    return m.render()
  }
  const h = primaryHost({
    onStatus: (w) =>
      w.pid === silent
        ? undefined
        : { ready: true, inFlight: 0, metrics: render(requests.get(w.pid) ?? 0) },
  })
  let admin!: Handler
  h.host.serve = (handler) => {
    admin = handlerOf(handler)
    return Promise.resolve({ port: 9090, stop: () => Promise.resolve() })
  }
  const env = { JWTGATE_CONFIG: CONFIG_PATH, JWTGATE_ADMIN_PORT: '9090' }
  const exit = runPrimary(h.host, env, 2, { statusTimeoutMs: 100 })
  await pollUntil(() => h.events('start').length === 1, 2000, 5)
  const scrape = async () => {
    const response = await admin(new Request('http://127.0.0.1:9090/metrics'), {})
    return parsePrometheus(await response.text()).samples
  }
  const sum = (samples: ReturnType<typeof parsePrometheus>['samples'], name: string) =>
    samples.filter((s) => s.name === name).reduce((total, s) => total + s.value, 0)
  const one = h.running(1)[0]!
  const two = h.running(2)[0]!
  requests.set(one.pid, 5)
  requests.set(two.pid, 7)
  let samples = await scrape()
  expect(sum(samples, 'jwtgate_requests_total')).toBe(12)
  expect(sum(samples, 'jwtgate_requests_in_flight')).toBe(2)
  // Worker 1 misses a scrape: counted as it last answered.
  silent = one.pid
  requests.set(two.pid, 8)
  samples = await scrape()
  expect(sum(samples, 'jwtgate_requests_total')).toBe(13)
  expect(sum(samples, 'jwtgate_request_duration_seconds_count')).toBe(13)
  // Worker 1 dies and is started again: its counts stay in the sum, its gauges go with it.
  silent = undefined
  one.exit('SIGKILL')
  await pollUntil(() => h.running(1).length === 1, 2000, 5)
  requests.set(h.running(1)[0]!.pid, 1)
  samples = await scrape()
  expect(sum(samples, 'jwtgate_requests_total')).toBe(5 + 1 + 8)
  expect(sum(samples, 'jwtgate_request_duration_seconds_count')).toBe(5 + 1 + 8)
  expect(sum(samples, 'jwtgate_requests_in_flight')).toBe(2)
  expect(sum(samples, 'jwtgate_worker_restarts_total')).toBe(1)
  h.signal()
  expect(await exit).toBe(0)
})
