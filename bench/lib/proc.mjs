/**
 * @module The processes the bench starts, and what /proc says about them. Every child is
 * tracked so that it is stopped however the run ends: on a normal exit or a signal here, and,
 * should this process itself be killed, by run.sh's trap, which reads the pid file
 * (`BENCH_PIDFILE`: "pid starttime" a line, so a reused pid is never killed).
 */
import { spawn } from 'node:child_process'
import fs from 'node:fs'

const running = new Set()
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** Field 22 of /proc/PID/stat: when the process started, in clock ticks since boot. */
function startTime(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]
  } catch {
    return undefined
  }
}

/**
 * Starts `cmd` with exactly `env` (nothing inherited but PATH and HOME, so a user's JWTGATE_*
 * variables cannot change what is measured); stdout and stderr go to `logFile`.
 */
export function start(cmd, args, { env = {}, logFile, cwd } = {}) {
  const fd = logFile === undefined ? 'ignore' : fs.openSync(logFile, 'a')
  const base = { PATH: process.env.PATH, HOME: process.env.HOME }
  const child = spawn(cmd, args, {
    cwd,
    env: { ...base, ...env },
    stdio: ['ignore', fd, fd],
  })
  if (typeof fd === 'number') fs.closeSync(fd)
  child.logFile = logFile
  child.exitInfo = undefined
  child.exited = new Promise((resolve) => {
    const done = (info) => {
      child.exitInfo ??= info
      running.delete(child)
      resolve()
    }
    child.on('exit', (code, signal) => done({ code, signal }))
    child.on('error', (error) => done({ error: error.message }))
  })
  running.add(child)
  if (child.pid !== undefined) record(child.pid)
  return child
}

/** SIGTERM, then SIGKILL after `graceMs`. */
export async function stop(child, graceMs = 2000) {
  if (child === undefined || child.exitInfo !== undefined) return
  child.kill('SIGTERM')
  await Promise.race([child.exited, sleep(graceMs)])
  if (child.exitInfo === undefined) {
    child.kill('SIGKILL')
    await Promise.race([child.exited, sleep(1000)])
  }
}

/** Kills whatever is still running, synchronously: for the 'exit' event and signals. */
export function killAll() {
  for (const child of running) child.kill('SIGKILL')
}

/** Lists a process in the pid file for run.sh's trap. */
function record(pid) {
  if (process.env.BENCH_PIDFILE) {
    fs.appendFileSync(
      process.env.BENCH_PIDFILE,
      `${pid} ${startTime(pid) ?? 0}\n`,
    )
  }
}

// This process too: if run.sh ends first (its `timeout` killed, say), the trap ends the run.
record(process.pid)
process.on('exit', killAll)
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    process.stderr.write(`\nbench: ${signal}, stopping everything\n`)
    process.exit(130)
  })
}

/** The last lines of a child's log, for error messages. */
export function logTail(child, lines = 4) {
  try {
    return fs.readFileSync(child.logFile, 'utf8').trim().split('\n').slice(
      -lines,
    ).join(' | ')
  } catch {
    return ''
  }
}

const TICKS_PER_SECOND = 100 // USER_HZ: 100 on every Linux architecture we run on

/** The process and its descendants (jwtgate's workers, with JWTGATE_WORKERS above one). */
export function processTree(pid) {
  const all = [pid]
  for (let i = 0; i < all.length; i++) {
    try {
      const children = fs.readFileSync(
        `/proc/${all[i]}/task/${all[i]}/children`,
        'utf8',
      )
      for (const child of children.trim().split(/\s+/)) {
        if (child !== '') all.push(Number(child))
      }
    } catch {
      // gone meanwhile
    }
  }
  return all
}

/** The sum of `read(pid)` over the process tree; undefined once the process is gone. */
function treeSum(pid, read) {
  const own = read(pid)
  if (own === undefined) return undefined
  let sum = own
  for (const child of processTree(pid).slice(1)) sum += read(child) ?? 0
  return sum
}

/**
 * User + system CPU time of a process and its descendants (all their threads), in microseconds;
 * undefined once gone. A worker that exits during the run takes its time with it.
 */
export function cpuMicros(pid) {
  return treeSum(pid, (one) => {
    try {
      const stat = fs.readFileSync(`/proc/${one}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      return ((Number(fields[11]) + Number(fields[12])) * 1e6) /
        TICKS_PER_SECOND
    } catch {
      return undefined
    }
  })
}

/**
 * A `kB` field of /proc/PID/status (VmRSS now, VmHWM the peak so far), in MB, summed over the
 * process and its descendants (each one's own peak, for VmHWM).
 */
export function memoryMb(pid, field) {
  return treeSum(pid, (one) => {
    try {
      const match = fs.readFileSync(`/proc/${one}/status`, 'utf8').match(
        new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'),
      )
      return match ? Number(match[1]) / 1024 : undefined
    } catch {
      return undefined
    }
  })
}

/** Machine-wide CPU counters (/proc/stat), to report how busy and stolen the cores were. */
export function machineCpu() {
  const [user, nice, system, idle, iowait, irq, softirq, steal = 0] = fs
    .readFileSync(
      '/proc/stat',
      'utf8',
    ).split('\n')[0].trim().split(/\s+/).slice(1).map(Number)
  return {
    busy: user + nice + system + irq + softirq,
    steal,
    total: user + nice + system + idle + iowait + irq + softirq + steal,
  }
}
