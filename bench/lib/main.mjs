/**
 * @module One benchmark run (bench/run.sh installs what it needs, then runs this):
 * start the upstream and every configuration, check them, warm them up, measure them in
 * interleaved rounds, measure cold starts, then write the report.
 *   node bench/lib/main.mjs [checkout]     (checkout: where dist/jwtgate is; default: bench/..)
 */
import { execFileSync, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { check } from './check.mjs'
import { coldStart } from './cold.mjs'
import { command, CONFIGS, workersConfig } from './configs.mjs'
import { HOST, portTaken, waitForHttp } from './http.mjs'
import { rounds, warmUp } from './load.mjs'
import { elapsed, log, warn, warnings } from './log.mjs'
import { readOptions } from './options.mjs'
import { logTail, machineCpu, memoryMb, start, stop } from './proc.mjs'
import { buildReport } from './report.mjs'
import { makeTokens } from './tokens.mjs'
import { startUpstream } from './upstream.mjs'

const BENCH = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const checkout = path.resolve(process.argv[2] ?? path.join(BENCH, '..'))
const opts = readOptions(process.env, BENCH, checkout)
const startedAt = new Date()
// Before any process of ours runs: what else the machine is doing.
const loadBefore = os.loadavg()
const runDir = path.join(
  opts.results,
  'runs',
  startedAt.toISOString().replace(/[:.]/g, '-'),
)

/** A tool's version from its output (some print it on stderr), or '?'. */
function version(cmd, args, pattern) {
  const result = spawnSync(cmd, args, { encoding: 'utf8', timeout: 5000 })
  if (result.error !== undefined) return '?'
  const out = `${result.stdout}${result.stderr}`
  return (pattern.exec(out) ?? [])[1] ?? '?'
}
const packageVersion = (dir, name) => {
  try {
    return JSON.parse(
      fs.readFileSync(
        path.join(dir, 'node_modules', name, 'package.json'),
        'utf8',
      ),
    )
      .version
  } catch {
    return '?'
  }
}

// Bun and jose are the project's own (its package-lock.json): bun-passthrough then runs on the
// same Bun that dist/jwtgate was compiled with.
const bun = process.env.BUN ??
  path.join(BENCH, '..', 'node_modules', '.bin', 'bun')
const jwtgateBuilt = fs.existsSync(opts.jwtgate)

function jwtgateIdentity() {
  const stat = fs.statSync(opts.jwtgate)
  let commit = '?'
  try {
    commit = execFileSync('git', [
      '-C',
      checkout,
      'describe',
      '--always',
      '--dirty',
    ], {
      encoding: 'utf8',
    }).trim()
  } catch {
    // not a git checkout: the commit stays '?'
  }
  return `${version(opts.jwtgate, ['--version'], /^(.+)$/m)}, checkout ${commit}, built ${
    stat.mtime.toISOString().slice(0, 16)
  }Z, ${(stat.size / 2 ** 20).toFixed(0)} MB`
}

async function main() {
  fs.mkdirSync(path.join(runDir, 'logs'), { recursive: true })
  const logFile = (name) => path.join(runDir, 'logs', `${name}.log`)
  const versions = {
    node: process.version,
    bun: version(bun, ['--version'], /^(\S+)/),
    jose: packageVersion(path.join(BENCH, '..'), 'jose'),
    hono: packageVersion(BENCH, 'hono'),
    fastify: packageVersion(BENCH, 'fastify'),
    '@fastify/jwt': packageVersion(BENCH, '@fastify/jwt'),
    express: packageVersion(BENCH, 'express'),
    'express-jwt': packageVersion(BENCH, 'express-jwt'),
    haproxy: version('haproxy', ['-v'], /version (\S+)/),
    nginx: version('nginx', ['-v'], /nginx\/(\S+)/),
    wrk: version('wrk', ['-v'], /wrk (\S+)/),
  }
  if (versions.bun === '?') {
    throw new Error(
      `no Bun at ${bun}: run npm ci in the project first (or set BUN)`,
    )
  }

  log(`keys and tokens (pool of ${opts.poolSize}) in ${runDir}/tokens`)
  const tokens = makeTokens(path.join(runDir, 'tokens'), opts.poolSize)
  const upstreamPort = opts.portBase
  const ctx = {
    bench: BENCH,
    checkout,
    bun,
    deno: process.env.DENO ?? path.join(BENCH, '..', 'node_modules', '.bin', 'deno'),
    node: process.execPath,
    jwtgate: opts.jwtgate,
    jwtgateB: process.env.BENCH_BIN_B === undefined
      ? undefined
      : path.resolve(process.env.BENCH_BIN_B),
    upstreamPort,
    tokens,
    workDir: runDir,
    haproxyThreads: opts.haproxyThreads,
    redisPort: opts.portBase + 9,
  }

  // One process per config and algorithm; bun-passthrough verifies nothing and runs once.
  const instances = []
  const configs = [...CONFIGS, ...opts.workers.map(workersConfig)]
  configs.forEach((config, index) => {
    if (
      opts.only !== undefined && !opts.only.includes(config.name) &&
      !config.name.startsWith('jwtgate-w')
    ) return
    if (opts.only === undefined && config.optional) return
    // Every jwtgate-* but Deno's and the second build runs dist/jwtgate.
    const binary = config.name.startsWith('jwtgate') && config.name !== 'jwtgate-deno' &&
      config.name !== 'jwtgate-b'
    if (binary && !jwtgateBuilt) {
      return warn(`jwtgate: not built (no ${opts.jwtgate}; npm run build)`)
    }
    const algs = config.auth ? opts.algs : [opts.algs[0]]
    for (const alg of algs) {
      instances.push({
        ...config,
        config: config.name,
        alg: config.auth ? alg : 'any',
        checkAlg: alg,
        port: opts.portBase + 10 + index * 2 + opts.algs.indexOf(alg),
      })
    }
  })
  const taken = []
  for (const port of [upstreamPort, ...instances.map((i) => i.port)]) {
    if (await portTaken(port)) taken.push(port)
  }
  if (taken.length > 0) {
    throw new Error(
      `ports in use on 127.0.0.1: ${taken.join(', ')} (another run? set PORT_BASE)`,
    )
  }

  // Redis for jwtgate-redis: one server on loopback, no persistence.
  const redis = instances.some((i) => i.config === 'jwtgate-redis')
    ? start(
      'redis-server',
      ['--port', String(ctx.redisPort), '--bind', HOST, '--save', '', '--appendonly', 'no'],
      { env: {}, logFile: logFile('redis'), cwd: BENCH },
    )
    : undefined
  const upstream = startUpstream(
    path.join(runDir, 'nginx'),
    upstreamPort,
    logFile('upstream-nginx'),
  )
  const upstreamProblem = await waitForHttp(upstreamPort, upstream)
  if (upstreamProblem !== undefined) {
    throw new Error(`nginx upstream: ${upstreamProblem}: ${logTail(upstream)}`)
  }

  for (const i of instances) {
    const spec = command(i.config, i.checkAlg, i.port, ctx)
    i.child = start(spec.cmd, spec.args, {
      env: spec.env,
      logFile: logFile(`${i.config}-${i.alg}`),
      cwd: BENCH,
    })
  }
  await Promise.all(instances.map(async (i) => {
    const problem = await waitForHttp(i.port, i.child)
    if (problem !== undefined) {
      Object.assign(i, {
        verdict: 'BROKEN',
        detail: `did not start: ${problem}: ${logTail(i.child)}`,
      })
    }
  }))

  log(
    'checks: a valid token reaches the upstream as X-User-Id; bad tokens get 401',
  )
  for (const i of instances.filter((x) => x.verdict === undefined)) {
    Object.assign(i, await check(i.port, i.checkAlg, tokens, i.auth))
  }
  for (const i of instances) {
    // Idle: started and checked, no load yet.
    i.idleMb = memoryMb(i.child.pid, 'VmRSS')
    log(
      `  ${i.config.padEnd(16)} ${i.alg.padEnd(6)} ${i.verdict.padEnd(8)} ${i.detail}`,
    )
    if (i.verdict !== 'OK') {
      warn(`${i.config} ${i.alg}: ${i.verdict}: ${i.detail}`)
    }
  }
  await warmUp(instances, tokens, opts, runDir)
  const cpu0 = machineCpu()
  const runs = await rounds({
    instances,
    upstream,
    upstreamPort,
    tokens,
    opts,
    runDir,
  })
  const cpu1 = machineCpu()
  const loadAfter = os.loadavg()
  for (const i of instances) i.peakMb = memoryMb(i.child.pid, 'VmHWM')
  await Promise.all(instances.map((i) => stop(i.child)))

  // Cold starts once the load processes are gone (less noise), with the first algorithm's keys.
  const cold = {}
  if (opts.coldRuns > 0) {
    log(`cold starts: ${opts.coldRuns} per config`)
    let port = opts.portBase + 60
    for (
      const name of [
        ...new Set(
          instances.filter((i) => i.verdict !== 'BROKEN').map((i) => i.config),
        ),
      ]
    ) {
      cold[name] = { times: [] }
      for (let n = 0; n < opts.coldRuns; n++) {
        const spec = command(name, opts.algs[0], port, ctx)
        const result = await coldStart(
          spec,
          port++,
          tokens.single[opts.algs[0]],
          logFile(`cold-${name}`),
        )
        if (result.error !== undefined) {
          cold[name].error = result.error
          warn(`cold start ${name}: ${result.error}`)
          break
        }
        cold[name].times.push(result.ms)
      }
    }
  }
  await stop(upstream)
  if (redis !== undefined) await stop(redis)

  const pct = (
    field,
  ) => (cpu1.total > cpu0.total
    ? ((100 * (cpu1[field] - cpu0[field])) / (cpu1.total - cpu0.total)).toFixed(
      0,
    )
    : '?')
  const report = {
    startedAt: startedAt.toISOString(),
    wallSeconds: elapsed(),
    opts,
    runDir: path.relative(checkout, runDir),
    jwtgate: {
      path: opts.jwtgate,
      built: jwtgateBuilt,
      identity: jwtgateBuilt ? jwtgateIdentity() : undefined,
    },
    versions,
    machine: {
      cpu: (/model name\s*:\s*(.*)/.exec(
        fs.readFileSync('/proc/cpuinfo', 'utf8'),
      ) ?? [])[1] ??
        os.cpus()[0]?.model,
      cores: os.cpus().length,
      memGb: (os.totalmem() / 2 ** 30).toFixed(0),
      kernel: os.release(),
      loadBefore: loadBefore.map((x) => x.toFixed(2)).join(' '),
      loadAfter: loadAfter.map((x) => x.toFixed(2)).join(' '),
      busyPct: pct('busy'),
      stealPct: pct('steal'),
    },
    instances: instances.map(({ child: _, ...rest }) => rest),
    runs,
    cold,
    warnings,
  }
  const markdown = buildReport(report)
  fs.writeFileSync(path.join(runDir, 'report.md'), markdown)
  fs.writeFileSync(path.join(opts.results, 'latest.md'), markdown)
  fs.writeFileSync(
    path.join(opts.results, 'latest.json'),
    `${JSON.stringify(report, null, 2)}\n`,
  )
  pruneRuns()
  process.stdout.write(markdown)
}

/** Keeps the newest `KEEP_RUNS` run folders. */
function pruneRuns() {
  const dir = path.join(opts.results, 'runs')
  const all = fs.readdirSync(dir).sort()
  for (const old of all.slice(0, Math.max(0, all.length - opts.keepRuns))) {
    fs.rmSync(path.join(dir, old), { recursive: true, force: true })
  }
}

main().catch((error) => {
  process.stderr.write(`bench: ${error.stack ?? error}\n`)
  process.exit(1)
})
