/**
 * @module Metrics in the Prometheus text format (version 0.0.4): counters, a gauge and histograms
 * with bounded labels (route names, reason codes — never raw paths). Served on the admin listener
 * only.
 */

type Labels = readonly string[]

const KEY_SEPARATOR = '\u0001'

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')
}

function labelText(names: Labels, values: readonly string[], extra?: string): string {
  const parts = names.map((n, i) => `${n}="${escapeLabel(values[i] ?? '')}"`)
  if (extra !== undefined) parts.push(extra)
  return parts.length > 0 ? `{${parts.join(',')}}` : ''
}

/** A monotonically increasing count per label set. */
export class Counter {
  readonly #values = new Map<string, number>()
  constructor(readonly name: string, readonly help: string, readonly labels: Labels = []) {}

  inc(values: readonly string[] = [], by = 1): void {
    const key = values.join(KEY_SEPARATOR)
    this.#values.set(key, (this.#values.get(key) ?? 0) + by)
  }

  get(values: readonly string[] = []): number {
    return this.#values.get(values.join(KEY_SEPARATOR)) ?? 0
  }

  render(): string {
    let out = `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} counter\n`
    for (const [key, value] of this.#values) out += `${this.name}${labelText(this.labels, key === '' && this.labels.length === 0 ? [] : key.split(KEY_SEPARATOR))} ${value}\n`
    return out
  }
}

/** A value that goes up and down. */
export class Gauge {
  value = 0
  constructor(readonly name: string, readonly help: string) {}
  render(): string {
    return `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} gauge\n${this.name} ${this.value}\n`
  }
}

/** Seconds buckets from 100 µs to 30 s. */
export const SECONDS_BUCKETS: readonly number[] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

interface Series {
  readonly counts: number[]
  sum: number
  count: number
}

/** A histogram per label set, with cumulative buckets rendered as Prometheus expects. */
export class Histogram {
  readonly #series = new Map<string, Series>()
  constructor(readonly name: string, readonly help: string, readonly labels: Labels = [], readonly buckets: readonly number[] = SECONDS_BUCKETS) {}

  observe(values: readonly string[], value: number): void {
    const key = values.join(KEY_SEPARATOR)
    let series = this.#series.get(key)
    if (series === undefined) {
      series = { counts: new Array<number>(this.buckets.length).fill(0), sum: 0, count: 0 }
      this.#series.set(key, series)
    }
    for (let i = 0; i < this.buckets.length; i++) {
      if (value <= this.buckets[i]!) {
        series.counts[i]!++
        break
      }
    }
    series.sum += value
    series.count++
  }

  count(values: readonly string[] = []): number {
    return this.#series.get(values.join(KEY_SEPARATOR))?.count ?? 0
  }

  render(): string {
    let out = `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} histogram\n`
    for (const [key, series] of this.#series) {
      const values = this.labels.length === 0 ? [] : key.split(KEY_SEPARATOR)
      let cumulative = 0
      for (let i = 0; i < this.buckets.length; i++) {
        cumulative += series.counts[i]!
        out += `${this.name}_bucket${labelText(this.labels, values, `le="${this.buckets[i]}"`)} ${cumulative}\n`
      }
      out += `${this.name}_bucket${labelText(this.labels, values, 'le="+Inf"')} ${series.count}\n`
      out += `${this.name}_sum${labelText(this.labels, values)} ${series.sum}\n`
      out += `${this.name}_count${labelText(this.labels, values)} ${series.count}\n`
    }
    return out
  }
}

/** GET/HEAD → read, OPTIONS → options, the rest → write. */
export function methodClass(method: string): string {
  return method === 'GET' || method === 'HEAD' ? 'read' : method === 'OPTIONS' ? 'options' : 'write'
}

/** Every metric the gateway keeps. */
export class Metrics {
  readonly requests = new Counter('jwtgate_requests_total', 'Requests answered, by route, method class and status.', ['route', 'method_class', 'status'])
  readonly rejections = new Counter('jwtgate_rejections_total', 'Requests rejected by the gateway, by reason code.', ['reason'])
  readonly requestDuration = new Histogram('jwtgate_request_duration_seconds', 'Time from request to response headers, by route.', ['route'])
  readonly upstreamDuration = new Histogram('jwtgate_upstream_duration_seconds', 'Time from the upstream request to its response headers, by upstream.', ['upstream'])
  readonly verifyDuration = new Histogram('jwtgate_token_verification_seconds', 'Time to verify a token (cache misses), by provider.', ['provider'])
  readonly jwksFetches = new Counter('jwtgate_jwks_fetches_total', 'JWK Set (and OIDC discovery) fetches, by provider and result.', ['provider', 'result'])
  readonly cache = new Counter('jwtgate_token_cache_total', 'Verified-token cache lookups, by result (hit, miss).', ['result'])
  readonly inFlight = new Gauge('jwtgate_requests_in_flight', 'Requests received and not yet answered with headers.')
  readonly startTime: number

  constructor(now: number = Date.now()) {
    this.startTime = now / 1000
  }

  render(): string {
    return [
      this.requests.render(),
      this.rejections.render(),
      this.requestDuration.render(),
      this.upstreamDuration.render(),
      this.verifyDuration.render(),
      this.jwksFetches.render(),
      this.cache.render(),
      this.inFlight.render(),
      `# HELP jwtgate_process_start_time_seconds Start time of the process since the Unix epoch.\n# TYPE jwtgate_process_start_time_seconds gauge\njwtgate_process_start_time_seconds ${this.startTime}\n`,
    ].join('')
  }
}
