/**
 * @module How many workers JWTGATE_WORKERS asks for: a number as given; `auto` enough to keep
 * every core the process may use busy. Those cores: the CPUs it may run on (affinity, from the
 * runtime), capped by a cgroup CPU quota (a container's `--cpus`, a Kubernetes limit, systemd's
 * `CPUQuota=`), rounded down as Go's automaxprocs does. Divided by what one worker keeps busy at
 * full load (`coresPerWorker`, from the entrypoint, measured: README, Performance): under Bun ~1.3
 * cores — its JavaScript thread and the thread its fetch does HTTP on — so three workers for every
 * four cores (one on two, twelve on sixteen); under Deno one core. At least one. SO_REUSEPORT
 * spreads connections over processes on Linux only: elsewhere `auto` is one, and more than one is
 * refused.
 */
import type { Workers } from '../../core/config/types.ts'

/** What the count needs from the runtime. */
export interface CoreFacts {
  readonly platform: string
  cpuCount(): number
  readFile(path: string): string
  /** The cores one worker keeps busy at full load on this runtime (default 1). */
  readonly coresPerWorker?: number
}

/** The workers to start, or a message when the count cannot be honoured here. */
export function workerCount(workers: Workers, facts: CoreFacts): number | string {
  if (facts.platform !== 'linux') {
    if (workers === 'auto' || workers === 1) return 1
    return `JWTGATE_WORKERS=${workers} needs Linux, whose SO_REUSEPORT spreads connections over processes (this is ${facts.platform}); set it to 1`
  }
  return workers === 'auto'
    ? autoWorkers(availableCores(facts), facts.coresPerWorker ?? 1)
    : workers
}

/** `auto`'s count: as many workers as `cores` keep busy at `perWorker` cores each, at least one. */
export function autoWorkers(cores: number, perWorker: number): number {
  // The epsilon keeps 4 / (4 / 3) at 3 despite rounding.
  return Math.max(1, Math.floor(cores / perWorker + 1e-9))
}

/** The cores this process may use: its CPUs, capped by the tightest cgroup CPU quota above it. */
export function availableCores(facts: CoreFacts): number {
  const cpus = Math.max(1, facts.cpuCount())
  const quota = cgroupQuota(facts.readFile)
  return quota === undefined ? cpus : Math.max(1, Math.min(cpus, Math.floor(quota)))
}

/**
 * The tightest CPU quota (in cores) of the process's cgroup and its parents: cgroup v2's
 * `cpu.max` (`150000 100000` is 1.5 cores; `max` none), else v1's `cpu.cfs_quota_us` / period.
 */
export function cgroupQuota(readFile: (path: string) => string): number | undefined {
  const read = (path: string) => {
    try {
      return readFile(path).trim()
    } catch {
      return undefined
    }
  }
  let tightest: number | undefined
  const consider = (quota: number, period: number) => {
    if (quota > 0 && period > 0) tightest = Math.min(tightest ?? Infinity, quota / period)
  }
  const v2 = /^0::(.*)$/m.exec(read('/proc/self/cgroup') ?? '')?.[1]
  // Inside a container the cgroup namespace makes its own group the root: check both.
  const dirs = new Set(['/sys/fs/cgroup'])
  if (v2 !== undefined) {
    let path = v2.replace(/\/+$/, '')
    while (path !== '') {
      dirs.add(`/sys/fs/cgroup${path}`)
      path = path.slice(0, path.lastIndexOf('/'))
    }
  }
  for (const dir of dirs) {
    const [quota, period] = (read(`${dir}/cpu.max`) ?? '').split(/\s+/)
    if (quota !== undefined && quota !== 'max' && period !== undefined) {
      consider(Number(quota), Number(period))
    }
  }
  if (tightest === undefined) {
    const quota = Number(read('/sys/fs/cgroup/cpu/cpu.cfs_quota_us') ?? -1)
    const period = Number(read('/sys/fs/cgroup/cpu/cpu.cfs_period_us') ?? 0)
    consider(quota, period)
  }
  return tightest
}

/** `jwtgate check`'s line: the setting, and what it comes to here. */
export function describeWorkers(workers: Workers, facts: CoreFacts): string {
  const count = workerCount(workers, facts)
  if (typeof count === 'string') return `${workers} — ${count}`
  const shown = workers === 'auto'
    ? `auto (${count} here, for ${availableCores(facts)} cores)`
    : String(count)
  return count === 1 ? `${shown}: one process` : `${shown}: processes sharing the port`
}
