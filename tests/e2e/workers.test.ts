/**
 * JWTGATE_WORKERS end to end (issue 13), with the binary and `deno run` alike: two workers share
 * the port and both serve; a killed worker is started again (and one that cannot be spawned is
 * tried again); SIGHUP reloads every worker (and a bad file none), a worker still starting or
 * dying mid-reload included; SIGTERM drains both without losing a request, and exits 0 with a
 * worker waiting for its restart; the rate limits (JWTGATE_RATE_LIMIT and a named one) hold in total;
 * /metrics adds up over workers; a JWK Set is fetched once for all; the primary's death takes its
 * workers with it. Which worker served a request is read from its access-log line (`worker`).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { copyFileSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { jwksServer, TempDir } from '../helpers/files.ts'
import { keyPair, secret, sign } from '../helpers/keys.ts'
import {
  BINARY,
  freePort,
  type Gateway,
  runTarget,
  sleep,
  spawnTarget,
  startGateway,
  TARGETS,
} from '../helpers/process.ts'
import { parsePrometheus, sampleValue } from '../helpers/prometheus.ts'
import { exchange } from '../helpers/raw-http.ts'
import { relay, startRedis, type TestRedis } from '../helpers/redis.ts'
import { type RecordingUpstream, recordingUpstream } from '../helpers/serve.ts'
import { pollUntil, within } from '../helpers/wait.ts'

const SLOW_MS = 1000
/** Requests sent on fresh connections to reach both workers (SO_REUSEPORT hashes each connection). */
const SPREAD = 24

/** The worker processes of `pid` (its children). */
function children(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/)
      .filter((s) => s !== '').map(Number)
  } catch {
    return []
  }
}

/**
 * Resolves once the primary takes signals: it prints its start line a moment before its SIGHUP and
 * SIGTERM handlers are in place (a signal before then ends it), and answers its admin listener
 * only after they are.
 */
async function takingSignals(gateway: Gateway): Promise<void> {
  expect((await fetch(`${gateway.adminUrl}/healthz`)).status).toBe(200)
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** One request on a connection of its own; resolves with its status. */
async function once(url: string, token?: string): Promise<number> {
  const headers: Record<string, string> = { connection: 'close' }
  if (token !== undefined) headers.authorization = `Bearer ${token}`
  const response = await fetch(url, {
    headers,
    keepalive: false,
    signal: AbortSignal.timeout(10_000),
  })
  await response.body?.cancel()
  return response.status
}

/** The workers that logged a request line for `path` (by their `worker` field). */
/**
 * The workers whose access lines name `path`, once both have (or after 3 s): a worker writes its
 * lines to a pipe asynchronously, so they may arrive after the responses.
 */
function servedBy(gateway: Gateway, path: string): Promise<Set<unknown>> {
  const served = () =>
    new Set(gateway.events('request').filter((e) => e.path === path).map((e) => e.worker))
  return gateway.waitFor(() => {
    const workers = served()
    return workers.size >= 2 ? workers : undefined
  }, 3000).catch(() => served())
}

/** `count` requests to `path` on fresh connections, in parallel; their statuses. */
function spread(gateway: Gateway, path: string, token?: string, count = SPREAD) {
  return Promise.all(Array.from({ length: count }, () => once(`${gateway.url}${path}`, token)))
}

for (const target of TARGETS) {
  describe(`${target.name}: workers`, () => {
    const key = secret(32)
    const files = new TempDir()
    let upstream: RecordingUpstream
    let token: string
    const gateways: Gateway[] = []
    let redis: TestRedis
    const env = () => ({
      JWTGATE_WORKERS: '2',
      JWTGATE_UPSTREAM: upstream.url,
      JWTGATE_SECRET: key.config,
      JWTGATE_FORWARD_CLAIMS: 'sub=X-User-Id',
    })
    const start = async (vars: Record<string, string>, admin = true) => {
      const gateway = await startGateway(target, vars, { admin, timeoutMs: 20_000 })
      gateways.push(gateway)
      return gateway
    }

    /** A configuration file whose one route needs `scope`, for two workers. */
    const file = (scope: string) =>
      `log: {format: json}
workers: 2
providers:
  main: {secret: "${key.config}"}
upstreams:
  app: {url: "${upstream.url}"}
routes:
  - {name: data, path: /data/*, upstream: app, require: {scopes: {all: [${scope}]}}}
`

    beforeAll(async () => {
      upstream = await recordingUpstream(async (request) => {
        const { pathname } = new URL(request.url)
        if (pathname.startsWith('/slow')) await sleep(SLOW_MS)
        return Response.json({ path: pathname, user: request.headers.get('x-user-id') })
      })
      token = await sign({ sub: 'ann', scope: 'read' }, { alg: 'HS256', key: key.raw })
      redis = await startRedis()
    })
    afterAll(async () => {
      await Promise.all(gateways.map((g) => g.kill()))
      await upstream.close()
      await redis?.kill()
      files.remove()
    })

    test('two workers serve one port: one start line, both answer, the claim headers reach the upstream', async () => {
      const gateway = await start(env())
      const started = gateway.events('start')
      expect(started).toHaveLength(1)
      expect(started[0]).toMatchObject({ workers: 2 })
      expect(children(gateway.pid)).toHaveLength(2)
      expect(await spread(gateway, '/both', token)).toEqual(Array(SPREAD).fill(200))
      expect(await servedBy(gateway, '/both')).toEqual(new Set([1, 2]))
      const seen = upstream.seen.filter((s) => s.path === '/both')
      expect(seen).toHaveLength(SPREAD)
      expect(seen.every((s) => s.headers.get('x-user-id') === 'ann')).toBe(true)
      expect(await once(`${gateway.url}/both`)).toBe(401)
      const ready = await fetch(`${gateway.adminUrl}/readyz`)
      expect(ready.status).toBe(200)
    })

    test(
      "/readyz on the shared port is the whole gateway's: 503 while one worker does not answer, whichever worker takes the probe",
      async () => {
        const gateway = await start(env())
        const probe = 'GET /readyz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n'
        /** The status of the first probe a running worker answers (one the stopped worker takes waits). */
        const readyz = async () => {
          for (let i = 0; i < 8; i++) {
            const { responses } = await exchange(gateway.port, probe, {
              timeoutMs: 3500,
              idleMs: 0,
            })
            if (responses[0] !== undefined) return responses[0].status
          }
          throw new Error('no worker answered /readyz')
        }
        expect(await readyz()).toBe(200)
        const [stopped] = children(gateway.pid)
        process.kill(stopped!, 'SIGSTOP') // it cannot say whether it is ready
        try {
          await sleep(1100) // a worker reuses the primary's answer for a second
          expect(await readyz()).toBe(503)
          expect((await fetch(`${gateway.adminUrl}/readyz`)).status).toBe(503)
        } finally {
          process.kill(stopped!, 'SIGCONT')
        }
        await pollUntil(async () => (await readyz()) === 200, 8000, 50)
      },
      30_000,
    )

    test('a killed worker is logged and started again; the other serves meanwhile', async () => {
      const gateway = await start(env())
      const [victim, other] = children(gateway.pid)
      process.kill(victim!, 'SIGKILL')
      await pollUntil(() => gateway.events('worker_exit').length === 1, 5000, 20)
      expect(gateway.events('worker_exit')[0]).toMatchObject({ pid: victim, signal: 'SIGKILL' })
      // The kernel takes a closed listener out of the port's group: new connections reach the other.
      expect(await spread(gateway, '/meanwhile', token, 6)).toEqual(Array(6).fill(200))
      await pollUntil(() => gateway.events('worker_restart').length === 1, 10_000, 50)
      const now = children(gateway.pid)
      expect(now).toHaveLength(2)
      expect(now).toContain(other!)
      expect(now).not.toContain(victim!)
      expect(await spread(gateway, '/after', token)).toEqual(Array(SPREAD).fill(200))
      expect(await servedBy(gateway, '/after')).toEqual(new Set([1, 2]))
      const metrics = parsePrometheus(await (await fetch(`${gateway.adminUrl}/metrics`)).text())
      expect(sampleValue(metrics.samples, 'jwtgate_workers')).toBe(2)
      expect(sampleValue(metrics.samples, 'jwtgate_worker_restarts_total')).toBe(1)
    })

    test('SIGHUP reloads every worker: the new rule applies on every connection; a bad file reloads none', async () => {
      const path = files.write(`reload-${target.name.length}.yaml`, file('read'))
      const gateway = await start({ JWTGATE_CONFIG: path })
      expect(await spread(gateway, '/data/before', token)).toEqual(Array(SPREAD).fill(200))
      files.write(path.slice(path.lastIndexOf('/') + 1), file('admin'))
      gateway.signal('SIGHUP')
      await pollUntil(() => gateway.events('reload').length === 1, 10_000, 20)
      expect(gateway.events('reload')[0]).toMatchObject({ trigger: 'SIGHUP', workers: 2 })
      expect(await spread(gateway, '/data/after', token)).toEqual(Array(SPREAD).fill(403))
      expect(await servedBy(gateway, '/data/after')).toEqual(new Set([1, 2]))

      files.write(path.slice(path.lastIndexOf('/') + 1), 'routes: [\n')
      gateway.signal('SIGHUP')
      await pollUntil(() => gateway.events('reload_failed').length === 1, 10_000, 20)
      expect(await spread(gateway, '/data/bad', token)).toEqual(Array(SPREAD).fill(403))
      expect(await servedBy(gateway, '/data/bad')).toEqual(new Set([1, 2]))
      expect(gateway.events('reload')).toHaveLength(1)
    })

    test('a restarted worker runs the configuration the others run, not an edit nobody reloaded (valid or not)', async () => {
      const name = `approved-${target.name.length}.yaml`
      const path = files.write(name, file('read'))
      const gateway = await start({ JWTGATE_CONFIG: path })
      for (const [edit, round] of [[file('admin'), 1], ['routes: [\n', 2]] as const) {
        files.write(name, edit) // saved, never reloaded
        process.kill(children(gateway.pid)[0]!, 'SIGKILL')
        await pollUntil(() => gateway.events('worker_restart').length === round, 10_000, 50)
        expect(await spread(gateway, `/data/round${round}`, token)).toEqual(Array(SPREAD).fill(200))
        expect(await servedBy(gateway, `/data/round${round}`)).toEqual(new Set([1, 2]))
      }
      expect(gateway.events('reload')).toHaveLength(0)
    })

    test(
      'a reload while a restarted worker is still starting reaches it: it listens with the new rule, as the other serves it',
      async () => {
        const name = `starting-${target.name.length}.yaml`
        const path = files.write(name, file('read'))
        // A way to Redis that hangs new connections: a worker starting then waits for it.
        const door = relay(redis.port)
        try {
          const gateway = await start({
            JWTGATE_CONFIG: path,
            JWTGATE_REDIS_URL: `redis://127.0.0.1:${door.port}`,
          })
          door.hold()
          process.kill(children(gateway.pid)[0]!, 'SIGKILL')
          // Its successor has its configuration and waits for Redis (3 s at most) before it listens.
          await pollUntil(() => door.held() > 0, 10_000, 10)
          files.write(name, file('admin'))
          await takingSignals(gateway)
          gateway.signal('SIGHUP')
          await pollUntil(() => gateway.events('reload').length === 1, 10_000, 20)
          await pollUntil(() => gateway.events('worker_restart').length === 1, 10_000, 20)
          expect(gateway.events('reload_failed')).toEqual([])
          // Until it has read the revocations from Redis once, it refuses every token (503);
          // Redis answers again, and it serves with the rule the reload brought.
          door.release()
          await pollUntil(
            async () => (await spread(gateway, '/data/starting', token)).every((s) => s === 403),
            10_000,
            100,
          )
          expect(await servedBy(gateway, '/data/starting')).toEqual(new Set([1, 2]))
        } finally {
          door.cut()
        }
      },
      15_000,
    )

    test(
      'a worker dying mid-reload does not split the workers: the reload holds, and its successor runs it',
      async () => {
        const name = `dying-${target.name.length}.yaml`
        const path = files.write(name, file('read'))
        const gateway = await start({ JWTGATE_CONFIG: path })
        const [stuck, other] = children(gateway.pid)
        process.kill(stuck!, 'SIGSTOP') // it cannot answer the reload
        let killed = false
        try {
          files.write(name, file('admin'))
          await takingSignals(gateway)
          gateway.signal('SIGHUP')
          // Worker 2 has applied it; worker 1 has yet to. (A connection the kernel gives the stopped
          // worker 1 waits: given up on, on a socket of its own.)
          const probe =
            `GET /data/probe HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${token}\r\n` +
            'connection: close\r\n\r\n'
          await pollUntil(
            async () => {
              const { responses } = await exchange(gateway.port, probe, {
                timeoutMs: 200,
                idleMs: 0,
              })
              return responses[0]?.status === 403
            },
            5000,
            20,
          )
          expect(gateway.events('reload')).toEqual([])
          process.kill(stuck!, 'SIGKILL')
          killed = true
        } finally {
          if (!killed) process.kill(stuck!, 'SIGKILL') // a stopped worker outlives its primary
        }
        await pollUntil(() => gateway.events('worker_restart').length === 1, 10_000, 20)
        expect(gateway.events('reload')).toHaveLength(1)
        expect(gateway.events('reload_failed')).toEqual([])
        expect(children(gateway.pid)).toContain(other!)
        expect(await spread(gateway, '/data/dying', token)).toEqual(Array(SPREAD).fill(403))
        expect(await servedBy(gateway, '/data/dying')).toEqual(new Set([1, 2]))
      },
      15_000,
    )

    test('SIGTERM while a killed worker waits for its restart: the other drains, exit 0', async () => {
      const gateway = await start(env())
      const [victim, other] = children(gateway.pid)
      await takingSignals(gateway)
      process.kill(victim!, 'SIGKILL')
      // At once: the restart is 100 ms away.
      await gateway.waitFor((out) => (out.includes('"event":"worker_exit"') ? true : undefined))
      gateway.signal('SIGTERM')
      expect(await within(gateway.exited, 10_000, 'still running')).toBe(0)
      expect(gateway.events('stopped')[0]).not.toHaveProperty('reason')
      expect(alive(other!)).toBe(false)
    })

    // Under Deno the program a worker runs is deno itself, which a test cannot take away.
    if (target === BINARY) {
      test('a worker that cannot be spawned (the binary moved away) is tried again with back-off, each failure logged, until it can', async () => {
        const copy = join(files.dir, 'jwtgate-copy')
        copyFileSync(BINARY.command[0]!, copy)
        const gateway = await startGateway(
          { name: 'a copy of dist/jwtgate', command: [copy] },
          env(),
          { timeoutMs: 20_000 },
        )
        gateways.push(gateway)
        rmSync(copy)
        process.kill(children(gateway.pid)[0]!, 'SIGKILL')
        await pollUntil(() => gateway.events('worker_start_failed').length === 2, 5000, 10)
        expect(gateway.events('worker_start_failed')).toEqual([
          expect.objectContaining({ worker: 1, restart_in_ms: 200 }),
          expect.objectContaining({ worker: 1, restart_in_ms: 400 }),
        ])
        expect(String(gateway.events('worker_start_failed')[0]!.error)).toContain('jwtgate-copy')
        copyFileSync(BINARY.command[0]!, copy)
        await pollUntil(() => gateway.events('worker_restart').length === 1, 10_000, 20)
        expect(children(gateway.pid)).toHaveLength(2)
        expect(await spread(gateway, '/back', token)).toEqual(Array(SPREAD).fill(200))
        expect(await servedBy(gateway, '/back')).toEqual(new Set([1, 2]))
        gateway.signal('SIGTERM')
        expect(await within(gateway.exited, 10_000, 'still running')).toBe(0)
      })
    }

    test('SIGTERM drains both workers: every request in flight completes, then exit 0', async () => {
      const gateway = await start(env())
      const before = upstream.seen.filter((s) => s.path === '/slow').length
      const inFlight = Array.from({ length: 12 }, () => once(`${gateway.url}/slow`, token))
      await pollUntil(
        () => upstream.seen.filter((s) => s.path === '/slow').length === before + 12,
        5000,
        10,
      )
      const pids = children(gateway.pid)
      gateway.signal('SIGTERM')
      expect(await Promise.all(inFlight)).toEqual(Array(12).fill(200))
      expect(await within(gateway.exited, 5000, 'still running')).toBe(0)
      expect(await servedBy(gateway, '/slow')).toEqual(new Set([1, 2]))
      expect(gateway.events('shutdown')[0]).toMatchObject({ signal: 'SIGTERM', in_flight: 12 })
      expect(gateway.events('stopped')).toHaveLength(1)
      expect(pids.filter(alive)).toEqual([])
      expect(await once(`${gateway.url}/slow`, token).catch(() => 'refused')).toBe('refused')
    })

    test('JWTGATE_RATE_LIMIT=10/1m holds in total: 10 of 30 requests pass, whichever worker takes them', async () => {
      const gateway = await start({ ...env(), JWTGATE_RATE_LIMIT: '10/1m' })
      const statuses = await spread(gateway, '/limited', token, 30)
      expect(statuses.filter((s) => s === 200)).toHaveLength(10)
      expect(statuses.filter((s) => s === 429)).toHaveLength(20)
      expect(await servedBy(gateway, '/limited')).toEqual(new Set([1, 2]))
    })

    test('a named limit (rateLimits:) holds in total without Redis: the primary holds its buckets', async () => {
      const path = files.write(
        `named-${target.name.length}.yaml`,
        `${file('read')}rateLimits:\n  per-user: { rate: 10/1m, key: sub }\n`,
      )
      const gateway = await start({ JWTGATE_CONFIG: path })
      const statuses = await spread(gateway, '/data/named', token, 30)
      expect(statuses.filter((s) => s === 200)).toHaveLength(10)
      expect(statuses.filter((s) => s === 429)).toHaveLength(20)
      expect(await servedBy(gateway, '/data/named')).toEqual(new Set([1, 2]))
    })

    test('/metrics adds up over workers: requests counted once each, in one family per metric', async () => {
      const gateway = await start(env())
      const statuses = await spread(gateway, '/counted', token, 20)
      statuses.push(...await spread(gateway, '/counted', undefined, 5))
      expect(await servedBy(gateway, '/counted')).toEqual(new Set([1, 2]))
      const text = await (await fetch(`${gateway.adminUrl}/metrics`)).text()
      const { samples } = parsePrometheus(text)
      const requests = samples.filter((s) => s.name === 'jwtgate_requests_total')
      expect(requests.reduce((sum, s) => sum + s.value, 0)).toBe(25)
      expect(sampleValue(samples, 'jwtgate_requests_total', {
        route: 'default',
        method_class: 'read',
        status: '401',
      })).toBe(5)
      expect(sampleValue(samples, 'jwtgate_request_duration_seconds_count', { route: 'default' }))
        .toBe(25)
      expect(sampleValue(samples, 'jwtgate_workers')).toBe(2)
      // Each family's lines together, as the text format requires.
      const names = text.split('\n').filter((l) => l.startsWith('# TYPE')).map((l) =>
        l.split(' ')[2]
      )
      expect(new Set(names).size).toBe(names.length)
    })

    test('a JWK Set is fetched once for both workers at start, and once for both after a rotation', async () => {
      const k1 = await keyPair('ES256', 'k1')
      const k2 = await keyPair('ES256', 'k2')
      const jwks = jwksServer([k1.publicJwk])
      try {
        const gateway = await start({
          JWTGATE_WORKERS: '2',
          JWTGATE_UPSTREAM: upstream.url,
          JWTGATE_JWKS_URL: jwks.url,
          JWTGATE_ALLOW_INSECURE_JWKS: 'true',
          JWTGATE_JWKS_COOLDOWN: '1s',
        })
        await pollUntil(
          async () => (await fetch(`${gateway.adminUrl}/readyz`)).status === 200,
          5000,
        )
        const first = await sign({ sub: 'ann' }, { alg: 'ES256', key: k1.privateKey, kid: 'k1' })
        expect(await spread(gateway, '/k1', first)).toEqual(Array(SPREAD).fill(200))
        expect(jwks.fetches).toBe(1)
        await sleep(1100) // past the cooldown: an unknown kid may fetch again
        jwks.keys = [k1.publicJwk, k2.publicJwk]
        const rotated = await sign({ sub: 'ann' }, { alg: 'ES256', key: k2.privateKey, kid: 'k2' })
        expect(await spread(gateway, '/k2', rotated)).toEqual(Array(SPREAD).fill(200))
        expect(await servedBy(gateway, '/k2')).toEqual(new Set([1, 2]))
        expect(jwks.fetches).toBe(2)
      } finally {
        jwks.stop()
      }
    })

    test('a worker that cannot listen stops the start: exit 1, the reason on stderr, no start line', async () => {
      const port = freePort()
      const taken = Bun.listen({ hostname: '127.0.0.1', port, socket: { data() {} } })
      try {
        const result = await runTarget(target, ['serve'], {
          ...env(),
          JWTGATE_HOST: '127.0.0.1',
          JWTGATE_PORT: String(port),
        }, 20_000)
        expect(result.code).toBe(1)
        expect(result.stderr).toContain(`cannot listen on 127.0.0.1:${port}`)
        expect(result.stdout).not.toContain('"event":"start"')
      } finally {
        taken.stop(true)
      }
    })

    test('when the primary is killed, its workers drain and exit: no orphan keeps the port', async () => {
      const running = spawnTarget(target, ['serve'], {
        ...env(),
        JWTGATE_HOST: '127.0.0.1',
        JWTGATE_PORT: '0',
      })
      await running.waitFor((out) => (out.includes('"event":"start"') ? true : undefined), 20_000)
      const pids = children(running.pid)
      expect(pids).toHaveLength(2)
      running.signal('SIGKILL')
      await pollUntil(() => pids.every((pid) => !alive(pid)), 5000, 20)
    })
  })
}
