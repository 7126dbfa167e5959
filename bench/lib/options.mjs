/**
 * @module The knobs, all from the environment (README.md lists them). QUICK=1 trades precision
 * for time: one round of 2 s runs, about 75 s in all, enough to see that everything works and
 * roughly where jwtgate stands, not to quote numbers from.
 */
import path from 'node:path'

const list = (value) => value.split(',').map((s) => s.trim()).filter(Boolean)

function seconds(value) {
  const match = /^(\d+)s?$/.exec(value.trim())
  if (match === null) {
    throw new Error(`not a whole number of seconds: ${value}`)
  }
  return Number(match[1])
}

export function readOptions(env, bench, checkout) {
  const quick = env.QUICK === '1'
  return Object.freeze({
    quick,
    rounds: Number(env.ROUNDS ?? (quick ? 1 : 3)),
    duration: seconds(env.DURATION ?? (quick ? '2' : '4')),
    warmup: seconds(env.WARMUP ?? '1'),
    connections: Number(env.CONNECTIONS ?? 32),
    threads: Number(env.THREADS ?? 1),
    coldRuns: Number(env.COLD_RUNS ?? (quick ? 3 : 5)),
    poolSize: Number(env.POOL_SIZE ?? 1000),
    algs: list(env.ALGS ?? 'HS256,RS256'),
    modes: list(env.MODES ?? 'single,pool'),
    // bun-passthrough always runs: every ratio is taken against it.
    only: env.CONFIGS === undefined ? undefined : ['bun-passthrough', ...list(env.CONFIGS)],
    portBase: Number(env.PORT_BASE ?? 18500),
    haproxyThreads: Number(env.HAPROXY_THREADS ?? 1),
    // jwtgate again with JWTGATE_WORKERS=N for each N (jwtgate-wN), in the same rounds.
    workers: list(env.WORKERS ?? '').map(Number).filter((n) => Number.isInteger(n) && n >= 1),
    jwtgate: path.resolve(env.BENCH_BIN ?? path.join(checkout, 'dist/jwtgate')),
    results: path.resolve(env.RESULTS_DIR ?? path.join(bench, 'results')),
    keepRuns: Number(env.KEEP_RUNS ?? 5),
  })
}
