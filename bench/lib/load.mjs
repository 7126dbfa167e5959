/**
 * @module The load: a warm-up, then interleaved rounds. In each round and for each algorithm,
 * the references first (direct, bun-passthrough, bun-floor), then every auth config with the single
 * token, then with the pool, in an order that rotates from round to round. Each run records
 * wrk's numbers and the process's CPU time per request.
 */
import path from 'node:path'
import { log, warn } from './log.mjs'
import { cpuMicros, logTail } from './proc.mjs'
import { wrk } from './wrk.mjs'

/** A process that passed its checks and is still running. */
export const measurable = (i) => i.verdict !== 'BROKEN' && i.child.exitInfo === undefined

const wrkOptions = (opts, runDir, name) => ({
  connections: opts.connections,
  threads: opts.threads,
  outFile: path.join(runDir, `${name}.txt`),
})

/** JIT runtimes reach their steady speed only after a while: load each one before round 1. */
export async function warmUp(instances, tokens, opts, runDir) {
  if (opts.warmup <= 0) return
  log(`warm-up: ${opts.warmup} s per JIT runtime process`)
  for (const i of instances.filter((x) => x.jit && measurable(x))) {
    await wrk({
      port: i.port,
      tokenFile: tokens.files[i.checkAlg].pool,
      seconds: opts.warmup,
      ...wrkOptions(opts, runDir, `warmup-${i.config}-${i.alg}`),
    })
  }
}

async function measure(
  config,
  pid,
  port,
  alg,
  mode,
  round,
  tokenFile,
  opts,
  runDir,
) {
  const label = `${config} ${alg} ${mode}`
  const before = cpuMicros(pid)
  const run = await wrk({
    port,
    tokenFile,
    seconds: opts.duration,
    ...wrkOptions(opts, runDir, `${config}-${alg}-${mode}-r${round}`),
  })
  const after = cpuMicros(pid)
  if (run.error !== undefined) {
    warn(`${label} round ${round}: ${run.error}`)
    return { config, alg, mode, round, error: run.error }
  }
  const cpu = before !== undefined && after !== undefined && run.requests > 0
    ? (after - before) / run.requests
    : undefined
  const failed = run.non2xx + run.socket_errors
  if (failed > 0) {
    warn(
      `${label} round ${round}: ${failed} of ${run.requests} requests failed (${run.non2xx} non-2xx)`,
    )
  }
  log(
    `  r${round} ${label.padEnd(30)} ${String(Math.round(run.rps)).padStart(7)} req/s  p99 ${
      (run.p99_us / 1000).toFixed(2)
    } ms  ${cpu?.toFixed(0) ?? '?'} µs/req`,
  )
  return { config, alg, mode, round, ...run, cpu_us_per_req: cpu }
}

/** All rounds; returns every run (`mode` is 'ref' for the references). */
export async function rounds(
  { instances, upstream, upstreamPort, tokens, opts, runDir },
) {
  const runs = []
  const references = instances.filter((i) => !i.auth)
  for (let round = 1; round <= opts.rounds; round++) {
    for (const alg of opts.algs) {
      const single = tokens.files[alg].single
      runs.push(
        await measure(
          'direct',
          upstream.pid,
          upstreamPort,
          alg,
          'ref',
          round,
          single,
          opts,
          runDir,
        ),
      )
      for (const reference of references.filter(measurable)) {
        runs.push(
          await measure(
            reference.config,
            reference.child.pid,
            reference.port,
            alg,
            'ref',
            round,
            single,
            opts,
            runDir,
          ),
        )
      }
      // Rotating keeps any one config from always running first, last, or after the heaviest.
      const auth = instances.filter((i) => i.auth && i.alg === alg)
      const order = auth.map((_, k) => auth[(k + round - 1) % auth.length])
      for (const mode of opts.modes) {
        for (const i of order.filter(measurable)) {
          runs.push(
            await measure(
              i.config,
              i.child.pid,
              i.port,
              alg,
              mode,
              round,
              tokens.files[alg][mode],
              opts,
              runDir,
            ),
          )
          if (i.child.exitInfo !== undefined) {
            warn(
              `${i.config} ${alg} exited under load: ${JSON.stringify(i.child.exitInfo)} ${
                logTail(i.child)
              }`,
            )
          }
        }
      }
    }
  }
  return runs
}
