/**
 * The parts of JWTGATE_WORKERS that need no process: the line protocol, the metrics merge, the
 * count `auto` comes to (cgroup quotas read through a fake file system). The processes themselves:
 * tests/e2e/workers.test.ts.
 */
import { expect, test } from 'bun:test'
import { Channel, type Message, readLines } from '../../src/cli/workers/channel.ts'
import { availableCores, cgroupQuota, workerCount } from '../../src/cli/workers/count.ts'
import { mergeMetrics } from '../../src/cli/workers/metrics.ts'
import { COPY_GAUGES, Metrics } from '../../src/core/metrics.ts'
import { parsePrometheus, sampleValue } from '../helpers/prometheus.ts'

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
