/**
 * @module The workers' `/metrics` as one: their Prometheus texts merged family by family —
 * counters, histogram buckets, sums and counts, and gauges added up, but for those of state each
 * worker holds a copy of (COPY_GAUGES: the least) and the start time (the earliest) — followed by
 * the primary's own (`jwtgate_workers`, `jwtgate_worker_restarts_total`). The counts of workers
 * that ended stay in the sum (`countsOf`), so that no counter of the whole goes back.
 */
import { COPY_GAUGES } from '../../core/metrics.ts'

interface Family {
  readonly comments: string[]
  readonly samples: Map<string, number>
  /** Merged by the least value (a start time, a copy gauge), not the sum. */
  readonly least: boolean
}

/** One text of the workers' families, values added up series by series. */
export function mergeMetrics(texts: readonly string[]): string {
  const families = new Map<string, Family>()
  for (const text of texts) {
    let family: Family | undefined
    for (const line of text.split('\n')) {
      if (line === '') continue
      if (line.startsWith('# ')) {
        const name = line.split(' ')[2] ?? ''
        family = families.get(name)
        if (family === undefined) {
          family = {
            comments: [],
            samples: new Map(),
            least: name.endsWith('_start_time_seconds') || COPY_GAUGES.has(name),
          }
          families.set(name, family)
        }
        if (!family.comments.includes(line)) family.comments.push(line)
        continue
      }
      if (family === undefined) continue
      const space = line.lastIndexOf(' ')
      const series = line.slice(0, space)
      const value = Number(line.slice(space + 1))
      const known = family.samples.get(series)
      family.samples.set(
        series,
        known === undefined ? value : family.least ? Math.min(known, value) : known + value,
      )
    }
  }
  let out = ''
  for (const family of families.values()) {
    for (const comment of family.comments) out += `${comment}\n`
    for (const [series, value] of family.samples) out += `${series} ${value}\n`
  }
  return out
}

/**
 * The counters and histograms of one worker's text (their comments too), without its gauges: what
 * a worker that ended leaves in the sum. Its gauges (requests in flight, connections, copies of
 * state) end with it.
 */
export function countsOf(text: string): string {
  const types = new Map<string, string>()
  for (const line of text.split('\n')) {
    if (line.startsWith('# TYPE ')) {
      const [, , name = '', type = ''] = line.split(' ')
      types.set(name, type)
    }
  }
  let kept = true
  let out = ''
  for (const line of text.split('\n')) {
    if (line === '') continue
    if (line.startsWith('# ')) {
      const type = types.get(line.split(' ')[2] ?? '')
      kept = type === 'counter' || type === 'histogram'
    }
    if (kept) out += `${line}\n`
  }
  return out
}

/** The primary's own metrics: workers running, and restarts since start. */
export function primaryMetrics(running: number, restarts: number): string {
  return [
    '# HELP jwtgate_workers Worker processes running.',
    '# TYPE jwtgate_workers gauge',
    `jwtgate_workers ${running}`,
    '# HELP jwtgate_worker_restarts_total Workers restarted after they ended unasked.',
    '# TYPE jwtgate_worker_restarts_total counter',
    `jwtgate_worker_restarts_total ${restarts}`,
    '',
  ].join('\n')
}
