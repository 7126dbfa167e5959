/**
 * @module The primary of several workers (JWTGATE_WORKERS): it starts them (each serves the
 * listener on the shared port, worker.ts), and is the one gateway the operator sees — one start-up
 * line, the admin listener (`/metrics` summed over workers, `/readyz` ready when every worker is —
 * also on the shared port, where the worker that takes the probe asks),
 * SIGHUP and file changes reloading every worker (a bad file reloads none, and every worker runs
 * the same configuration: see `reloadWorkers`), SIGTERM draining every worker. A worker that ends
 * unasked, or cannot be started, is logged and started again, with back-off. The primary holds
 * what must be exact across workers (shared.ts).
 */
import { ADMIN_LISTENER, checkAdminHost, healthResponse } from '../../core/admin.ts'
import { failureResponse } from '../../core/respond.ts'
import { rawPath } from '../../core/routing/path.ts'
import { RefusedCredentials, revocationsResponse } from '../../core/revocation/admin.ts'
import { revocationsConfigured } from '../../core/revocation/check.ts'
import { type Revocation, revocationJson } from '../../core/revocation/entry.ts'
import type { Environment } from '../../core/config/types.ts'
import type { Host, Server, WorkerProcess } from '../host.ts'
import {
  announce,
  configLogger,
  type FileText,
  firstSignal,
  listenAdmin,
  nextConfig,
  onReloads,
  reloadConfig,
} from '../serve.ts'
import { Channel, ChannelClosed, type Message, readLines } from './channel.ts'
import { countsOf, mergeMetrics, primaryMetrics } from './metrics.ts'
import { relayLines } from './output.ts'
import { Shared } from './shared.ts'
import { PORT_VAR, WORKER_VAR } from './worker.ts'

/** Back-off before a worker is started again: doubled per quick failure, up to the longest. */
const RESTART_FIRST_MS = 100
const RESTART_LONGEST_MS = 10_000
/** A worker that ran this long before it ended starts the back-off afresh. */
const RESTART_RESET_MS = 30_000
/** How long a revocation from the admin listener waits for the worker storing it. */
const REVOKE_TIMEOUT_MS = 5000
/** How long `/metrics` and `/readyz` wait for a worker's answer. */
const STATUS_TIMEOUT_MS = 2000
/** How long a reload waits for each worker (one starting waits for Redis 3 s at most first). */
const RELOAD_TIMEOUT_MS = 30_000
/** Beyond the shutdown timeout, how long a draining worker has to exit before it is killed. */
const EXIT_GRACE_MS = 5000

interface Slot {
  readonly index: number
  process?: WorkerProcess
  channel?: Channel
  ready: boolean
  startedAt: number
  failures: number
  /**
   * The generation of the configuration its worker was given at start or reloaded to (see
   * `Approved`); undefined until the worker has asked for it.
   */
  runs?: number
  exited?: Promise<{ readonly code: number | null; readonly signal: string | null }>
  restart?: ReturnType<typeof setTimeout>
  /** The `/metrics` text its worker last answered with. */
  metrics?: string
}

/**
 * The configuration every worker runs and any worker (re)started is given: the file's text as the
 * primary validated it (undefined without a file), numbered — each reload is a new generation,
 * even of the same text (it reads the files named in it again).
 */
interface Approved {
  readonly file: FileText | undefined
  readonly generation: number
}

/** Timings a test may shorten. */
export interface PrimaryTimings {
  /** How long a reload waits for each worker before it ends that worker (RELOAD_TIMEOUT_MS). */
  readonly reloadTimeoutMs?: number
  /** How long `/metrics` and `/readyz` wait for each worker's answer (STATUS_TIMEOUT_MS). */
  readonly statusTimeoutMs?: number
}

/** Runs `count` workers until a shutdown signal; resolves with the exit code. */
export async function runPrimary(
  host: Host,
  env: Environment,
  count: number,
  timings: PrimaryTimings = {},
): Promise<number> {
  const reloadTimeoutMs = timings.reloadTimeoutMs ?? RELOAD_TIMEOUT_MS
  const statusTimeoutMs = timings.statusTimeoutMs ?? STATUS_TIMEOUT_MS
  // Loaded here, keeping the file's text: workers load that text, never the file as it is later
  // (a worker restarted after an edit that was not reloaded runs what the others run).
  const first = await reloadConfig(host, env)
  if ('problems' in first) {
    for (const problem of first.problems) host.stderr(problem)
    host.stderr('jwtgate: refusing to start with an invalid configuration')
    return 1
  }
  /** The running configuration: the admin listener's, and the shared buckets' and fetches'. */
  let config = first.config
  /** The address the admin listener was opened on (a reload does not move it). */
  const adminHost = config.admin?.host
  let approved: Approved = { file: first.file, generation: 0 }
  /** The text the gateway started with: what only a restart changes is taken from it. */
  const startFile = first.file
  let generations = 0
  const logger = configLogger(host, config)
  const shared = new Shared(config)
  const slots: Slot[] = Array.from(
    { length: count },
    (_, i) => ({ index: i + 1, ready: false, startedAt: 0, failures: 0 }),
  )
  /** The shared port: the configured one, or the one the first worker bound when that is 0. */
  let port = config.port === 0 ? undefined : config.port
  let draining = false
  let restarts = 0
  /** The counters and histograms of the workers that ended, as they last answered (`countsOf`). */
  let retired = ''

  /** What the primary answers a worker. */
  function answer(slot: Slot, message: Message, reply: (fields: object) => void): void {
    if (message.t === 'limit') {
      reply(shared.take(Number(message.limit), Number(message.periodMs), String(message.key)))
    } else if (message.t === 'take') {
      reply(shared.takeAll(message.checks as [string, number, number][]))
    } else if (message.t === 'fetch') {
      void shared.fetchDocument(String(message.url)).then(reply)
    } else if (message.t === 'config') {
      slot.runs = approved.generation
      // After a reload, also the text it started with: the settings only a restart changes are
      // taken from that (keepStartSettings), as the workers that kept running serve with them.
      reply({ file: approved.file, ...(approved.generation > 0 ? { start: startFile } : {}) })
    } else if (message.t === 'ready') {
      slot.ready = true
      if (port === undefined && typeof message.port === 'number') port = message.port
    } else if (message.t === 'readyz') {
      // A worker's `/readyz` on the shared port: the gateway's answer, not that worker's alone.
      void everyReady().then((ready) => reply({ ready }))
    }
  }

  /**
   * Starts the worker of `slot`; resolves true once it listens, false if it ended first or could
   * not be started (at the gateway's start: said on stderr; later: logged, and tried again).
   */
  function start(slot: Slot): Promise<boolean> {
    let child: WorkerProcess
    try {
      child = host.spawnWorker({
        [WORKER_VAR]: String(slot.index),
        ...(port === undefined ? {} : { [PORT_VAR]: String(port) }),
      })
    } catch (e) {
      const error = e instanceof Error ? e.message : String(e)
      if (draining) host.stderr(`jwtgate: cannot start worker ${slot.index}: ${error}`)
      else {
        // The program moved or was replaced mid-upgrade, a process limit: it may pass.
        restartLater(slot, (delay) =>
          logger.log('error', 'worker_start_failed', {
            worker: slot.index,
            error,
            restart_in_ms: delay,
          }))
      }
      return Promise.resolve(false)
    }
    const channel = new Channel(
      (line) => child.write(`${line}\n`),
      (message, reply) => answer(slot, message, reply),
    )
    Object.assign(slot, {
      process: child,
      channel,
      ready: false,
      startedAt: Date.now(),
      runs: undefined,
    })
    return new Promise((resolve) => {
      const output = readLines(child.stderr, (line) => {
        if (channel.receive(line)) {
          if (slot.ready) resolve(true)
        } else host.stderr(line)
      })
      // Its lines go out through this process, whole (output.ts), until its stdout closes.
      const lines = relayLines(child.stdout, host.stdout)
      slot.exited = child.exited.then(async (how) => {
        await Promise.all([output, lines])
        channel.close()
        if (slot.process === child) {
          // Its counts stay in the sum: a counter of the whole never goes back.
          if (slot.metrics !== undefined) retired = mergeMetrics([retired, countsOf(slot.metrics)])
          Object.assign(slot, {
            process: undefined,
            ready: false,
            runs: undefined,
            metrics: undefined,
          })
        }
        resolve(false)
        if (!draining) ended(slot, child.pid, how)
        return how
      })
    })
  }

  /** A worker ended unasked: logged, and started again after its back-off. */
  function ended(
    slot: Slot,
    pid: number,
    how: { readonly code: number | null; readonly signal: string | null },
  ): void {
    if (Date.now() - slot.startedAt >= RESTART_RESET_MS) slot.failures = 0
    restartLater(slot, (delay) =>
      logger.log('error', 'worker_exit', {
        worker: slot.index,
        pid,
        code: how.code ?? undefined,
        signal: how.signal ?? undefined,
        restart_in_ms: delay,
      }))
  }

  /**
   * Starts the worker of `slot` again after its back-off, doubled per quick failure (`log` says
   * why, with the delay); a start that fails comes back here.
   */
  function restartLater(slot: Slot, log: (delay: number) => void): void {
    slot.failures++
    const delay = Math.min(RESTART_FIRST_MS * 2 ** (slot.failures - 1), RESTART_LONGEST_MS)
    log(delay)
    slot.restart = setTimeout(() => {
      slot.restart = undefined
      if (draining) return
      const started = start(slot)
      if (slot.process !== undefined) restarts++ // spawned (one that could not be is not counted)
      void started.then((ok) => {
        if (ok) {
          logger.log('info', 'worker_restart', { worker: slot.index, pid: slot.process?.pid })
        }
      })
    }, delay)
  }

  /**
   * Each running worker's status (with its `/metrics` text unless `metrics` is false), or
   * undefined for one that does not answer.
   */
  function statuses(metrics = true): Promise<(Message | undefined)[]> {
    return Promise.all(
      slots.map((slot) =>
        slot.channel !== undefined && slot.process !== undefined
          ? slot.channel.request({ t: 'status', metrics }, statusTimeoutMs).catch(() => undefined)
          : undefined
      ),
    )
  }

  /** The status round `everyReady` is waiting for, shared by those who ask meanwhile. */
  let readiness: Promise<boolean> | undefined
  /**
   * Whether the gateway is ready: not draining, and every worker running and ready (it has keys
   * from every key source) — the admin listener's `/readyz`, and the shared port's (asked by the
   * worker that took the probe). One status round at a time, whoever asks.
   */
  function everyReady(): Promise<boolean> {
    readiness ??= statuses(false).then((all) => {
      readiness = undefined
      return !draining && all.every((s) => s?.ready === true)
    })
    return readiness
  }

  /** Refused admin credentials: a log line a second at most (revocation/admin.ts). */
  const refusedCredentials = new RefusedCredentials()
  async function admin(request: Request): Promise<Response> {
    checkAdminHost(request, adminHost)
    // Not `new URL`: Bun hands over a relative URL for an HTTP/1.0 request without Host.
    const path = rawPath(request.url)
    if (path === '/metrics') {
      const asked = slots.map((slot) => slot.process)
      const all = await statuses()
      const running = slots.filter((s) => s.process !== undefined).length
      const texts = retired === '' ? [] : [retired]
      slots.forEach((slot, i) => {
        if (slot.process === undefined || slot.process !== asked[i]) return
        const text = all[i]?.metrics
        if (typeof text === 'string') slot.metrics = text
        // One that did not answer in time is counted as it last answered.
        if (slot.metrics !== undefined) texts.push(slot.metrics)
      })
      return new Response(mergeMetrics(texts) + primaryMetrics(running, restarts), {
        headers: { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' },
      })
    }
    if (path === '/revocations') {
      return revocationsResponse(request, {
        token: config.admin?.token,
        revoke: revocationsConfigured(config) ? revokeThroughWorker : undefined,
        now: Date.now,
        maxLifetimeSec: config.revocations.maxTokenLifetimeSec,
        beforeMarginSec: config.revocations.beforeMarginSec,
        logger,
        refused: refusedCredentials,
      })
    }
    if (path === '/healthz') return healthResponse(path, crypto.randomUUID(), true, draining)
    if (path === '/readyz') {
      return healthResponse(path, crypto.randomUUID(), await everyReady(), draining)
    }
    return new Response('not found\n', { status: 404, headers: { 'content-type': 'text/plain' } })
  }

  /**
   * A revocation from the admin listener, stored by a worker where every worker reads it (Redis:
   * announced to all; the revocations file: each reloads it when it changes).
   */
  async function revokeThroughWorker(entry: Revocation): Promise<void> {
    const slot = slots.find((s) => s.channel !== undefined && s.process !== undefined && s.ready)
    if (slot === undefined) throw new Error('no worker is running')
    const reply = await slot.channel!.request(
      { t: 'revoke', entry: revocationJson(entry) },
      REVOKE_TIMEOUT_MS,
    )
    if (reply.ok !== true) throw new Error(String(reply.error ?? 'not stored'))
  }

  /**
   * Asks every running worker to drain; resolves with true when all exited with 0 in time. One
   * waiting to be started again is not: its end was logged when it came.
   */
  async function stopAll(graceMs: number): Promise<boolean> {
    for (const slot of slots) {
      clearTimeout(slot.restart)
      slot.restart = undefined
      slot.channel?.send({ t: 'drain' })
    }
    let timer: ReturnType<typeof setTimeout> | undefined
    const exits = Promise.all(slots.filter((s) => s.process !== undefined).map((s) => s.exited))
    const timedOut = await Promise.race([
      exits.then(() => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(resolve, graceMs, true))),
    ])
    clearTimeout(timer)
    if (timedOut) { for (const slot of slots) slot.process?.kill('SIGKILL') }
    const results = await exits
    return !timedOut && results.every((r) => r === undefined || r.code === 0)
  }

  // All at once; but when the port is 0, the first worker picks it and the others then share it.
  draining = true // no restarts while starting: a worker that cannot start stops the start
  const started = port === undefined
    ? await start(slots[0]!).then(async (first) =>
      first ? [first, ...await Promise.all(slots.slice(1).map(start))] : [false]
    )
    : await Promise.all(slots.map(start))
  // A worker that was ready and ended while the others started counts as one that did not start.
  if (started.some((ok) => !ok) || slots.some((slot) => slot.process === undefined)) {
    host.stderr(`jwtgate: not every worker started; stopping`)
    await stopAll(EXIT_GRACE_MS)
    return 1
  }
  draining = false
  let adminServer: Server | undefined
  if (config.admin !== undefined) {
    // A failure is logged and answered problem+json, as a single process's admin listener does.
    adminServer = await listenAdmin(
      host,
      config,
      (request) => admin(request).catch((e) => failureResponse(e, logger, ADMIN_LISTENER)),
    )
    if (adminServer === undefined) {
      draining = true
      await stopAll(config.shutdownTimeoutMs + EXIT_GRACE_MS)
      return 1
    }
  }

  /**
   * Brings every running worker to the approved configuration: each one that was given or reloaded
   * to another is asked to reload. Resolves with the workers that answered with an error (they
   * keep what they ran). One that ends meanwhile is not among them: started again, it is given the
   * approved text. One that does not answer in time is killed (what it runs is unknown): started
   * again, the same.
   */
  async function reloadWorkers(): Promise<{ readonly slot: Slot; readonly problems: string[] }[]> {
    const { file, generation } = approved
    const behind = slots.filter((s) =>
      s.process !== undefined && s.channel !== undefined && s.runs !== undefined &&
      s.runs !== generation
    )
    const failed = await Promise.all(behind.map(async (slot) => {
      const child = slot.process!
      try {
        const reply = await slot.channel!.request({ t: 'reload', file }, reloadTimeoutMs)
        if (reply.ok !== true) {
          const problems = Array.isArray(reply.problems) ? reply.problems.map(String) : []
          return [{ slot, problems }]
        }
        if (slot.process === child) slot.runs = generation
      } catch (e) {
        if (!(e instanceof ChannelClosed)) {
          logger.log('error', 'worker_unresponsive', {
            worker: slot.index,
            pid: child.pid,
            waited_ms: reloadTimeoutMs,
            reason: 'no answer to a reload; killed, to be started again with the approved text',
          })
          child.kill('SIGKILL')
        }
      }
      return []
    }))
    return failed.flat()
  }

  // A reload: one configuration for all workers. The primary validates the file first; a bad one
  // reloads no worker. A valid one is approved at once (every worker started from then on is given
  // its text) and every running worker is asked to load it. A worker that ends, or does not answer
  // in time, does not fail the reload: started again (killed first, if it did not answer), it loads
  // the approved text. A worker that answers with an error (it cannot read a file the configuration
  // names, say) fails it for all: the previous text is approved again, the workers that applied the
  // new one load the previous one back, and one that cannot is drained, to be started again with it.
  const unwatch = onReloads(host, config, async (trigger) => {
    const next = await nextConfig(host, env, config, logger, trigger)
    if (next === undefined) return
    const previous = approved
    approved = { file: next.file, generation: ++generations }
    shared.configure(config, next.config)
    const failed = await reloadWorkers()
    if (failed.length === 0) {
      config = next.config
      shared.configure(config)
      logger.log('info', 'reload', { trigger, routes: config.routes.length, workers: count })
      return
    }
    approved = previous
    const stuck = await reloadWorkers()
    shared.configure(config)
    for (const { slot } of stuck) slot.channel?.send({ t: 'drain' })
    logger.log('error', 'reload_failed', {
      trigger,
      workers: failed.map(({ slot }) => String(slot.index)),
      problems: [...new Set(failed.flatMap(({ problems }) => problems))],
      keeping: 'the running configuration, on every worker',
      ...(stuck.length === 0 ? {} : { restarting: stuck.map(({ slot }) => String(slot.index)) }),
    })
  })

  // First signal: every worker drains. A second one: every worker is killed. The signals are ours
  // before the start line says so (serve.ts does the same).
  const signalled = firstSignal(host, (name) => {
    logger.log('warn', 'shutdown_forced', { signal: name })
    for (const slot of slots) slot.process?.kill('SIGKILL')
    host.exit(1)
  })
  announce(host, config, logger, { port: port!, adminPort: adminServer?.port, workers: count })
  const signal = await signalled
  draining = true
  const inFlight = (await statuses()).reduce((sum, s) => sum + Number(s?.inFlight ?? 0), 0)
  logger.log('info', 'shutdown', {
    signal,
    in_flight: inFlight,
    workers: count,
    timeout_ms: config.shutdownTimeoutMs,
  })
  unwatch()
  const clean = await stopAll(config.shutdownTimeoutMs + EXIT_GRACE_MS)
  await adminServer?.stop(true)
  logger.log(
    clean ? 'info' : 'warn',
    'stopped',
    clean ? {} : { reason: 'a worker did not drain cleanly' },
  )
  return clean ? 0 : 1
}
