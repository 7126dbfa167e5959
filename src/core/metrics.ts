/**
 * @module Metrics in the Prometheus text format (version 0.0.4): counters, a gauge and histograms
 * with bounded labels (route names, reason codes — never raw paths). Served on the admin listener
 * only.
 */

import type { StoreHealth } from './limits/guarded.ts'

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

/** One label set's count: kept by whoever counts it often, to skip the lookup. */
export interface CounterCell {
  /** The count. */
  value: number
}

/** A monotonically increasing count per label set. */
export class Counter {
  readonly #values = new Map<string, CounterCell>()
  constructor(readonly name: string, readonly help: string, readonly labels: Labels = []) {}

  /** The cell of a label set, created at zero on first use. */
  cell(values: readonly string[] = []): CounterCell {
    const key = values.join(KEY_SEPARATOR)
    let cell = this.#values.get(key)
    if (cell === undefined) {
      cell = { value: 0 }
      this.#values.set(key, cell)
    }
    return cell
  }

  inc(values: readonly string[] = [], by = 1): void {
    this.cell(values).value += by
  }

  get(values: readonly string[] = []): number {
    return this.#values.get(values.join(KEY_SEPARATOR))?.value ?? 0
  }

  render(): string {
    let out = `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} counter\n`
    for (const [key, cell] of this.#values) {
      out += `${this.name}${
        labelText(
          this.labels,
          key === '' && this.labels.length === 0 ? [] : key.split(KEY_SEPARATOR),
        )
      } ${cell.value}\n`
    }
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
export const SECONDS_BUCKETS: readonly number[] = [
  0.0001,
  0.00025,
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
]

/** One label set's histogram: kept by whoever observes it often, to skip the lookup. */
export class HistogramSeries {
  readonly counts: number[]
  sum = 0
  count = 0
  constructor(readonly buckets: readonly number[]) {
    this.counts = new Array<number>(buckets.length).fill(0)
  }

  observe(value: number): void {
    const buckets = this.buckets
    for (let i = 0; i < buckets.length; i++) {
      if (value <= buckets[i]!) {
        this.counts[i]!++
        break
      }
    }
    this.sum += value
    this.count++
  }
}

/** A histogram per label set, with cumulative buckets rendered as Prometheus expects. */
export class Histogram {
  readonly #series = new Map<string, HistogramSeries>()
  constructor(
    readonly name: string,
    readonly help: string,
    readonly labels: Labels = [],
    readonly buckets: readonly number[] = SECONDS_BUCKETS,
  ) {}

  /** The series of a label set, created empty on first use. */
  series(values: readonly string[]): HistogramSeries {
    const key = values.join(KEY_SEPARATOR)
    let series = this.#series.get(key)
    if (series === undefined) {
      series = new HistogramSeries(this.buckets)
      this.#series.set(key, series)
    }
    return series
  }

  observe(values: readonly string[], value: number): void {
    this.series(values).observe(value)
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
        out += `${this.name}_bucket${
          labelText(this.labels, values, `le="${this.buckets[i]}"`)
        } ${cumulative}\n`
      }
      out += `${this.name}_bucket${labelText(this.labels, values, 'le="+Inf"')} ${series.count}\n`
      out += `${this.name}_sum${labelText(this.labels, values)} ${series.sum}\n`
      out += `${this.name}_count${labelText(this.labels, values)} ${series.count}\n`
    }
    return out
  }
}

const METHOD_CLASSES = ['read', 'write', 'options']

/** Index into METHOD_CLASSES: GET/HEAD → read, OPTIONS → options, the rest → write. */
function methodClassIndex(method: string): number {
  return method === 'GET' || method === 'HEAD' ? 0 : method === 'OPTIONS' ? 2 : 1
}

/** GET/HEAD → read, OPTIONS → options, the rest → write. */
export function methodClass(method: string): string {
  return METHOD_CLASSES[methodClassIndex(method)]!
}

/** A route's request metrics, found once per request by route name alone. */
interface RouteSeries {
  readonly duration: HistogramSeries
  /** Request counters by `status * 4 + method class`. */
  readonly counts: Map<number, CounterCell>
}

/**
 * Every metric the gateway keeps, as `Gateway.metrics`. The admin handler serves `render()` at
 * `/metrics`; read the fields directly to report a figure elsewhere. The gateway creates its own:
 * embedders read it, they do not construct one.
 *
 * @example
 * import { createGateway, loadConfig } from 'jwtgate'
 * const gateway = createGateway(await loadConfig(env))
 * console.log(gateway.metrics.inFlight.value) // requests not yet answered with headers
 * const text = gateway.metrics.render() // what /metrics serves
 */
export class Metrics {
  /** `jwtgate_requests_total`: requests answered, by route, method class and status. */
  readonly requests = new Counter(
    'jwtgate_requests_total',
    'Requests answered, by route, method class and status.',
    ['route', 'method_class', 'status'],
  )
  /** `jwtgate_rejections_total`: requests rejected by the gateway, by reason code. */
  readonly rejections = new Counter(
    'jwtgate_rejections_total',
    'Requests rejected by the gateway, by reason code.',
    ['reason'],
  )
  /** `jwtgate_request_duration_seconds`: time from request to response headers, by route. */
  readonly requestDuration = new Histogram(
    'jwtgate_request_duration_seconds',
    'Time from request to response headers, by route.',
    ['route'],
  )
  /** `jwtgate_upstream_duration_seconds`: time the upstream took to answer with headers. */
  readonly upstreamDuration = new Histogram(
    'jwtgate_upstream_duration_seconds',
    'Time from the upstream request to its response headers, by upstream.',
    ['upstream'],
  )
  /** `jwtgate_token_verification_seconds`: time to verify a token (cache misses), by provider. */
  readonly verifyDuration = new Histogram(
    'jwtgate_token_verification_seconds',
    'Time to verify a token (cache misses), by provider.',
    ['provider'],
  )
  /** `jwtgate_jwks_fetches_total`: JWK Set and OIDC discovery fetches, by provider and result. */
  readonly jwksFetches = new Counter(
    'jwtgate_jwks_fetches_total',
    'JWK Set (and OIDC discovery) fetches, by provider and result.',
    ['provider', 'result'],
  )
  /** `jwtgate_token_cache_total`: verified-token cache lookups, by result (hit, miss). */
  readonly cache = new Counter(
    'jwtgate_token_cache_total',
    'Verified-token cache lookups, by result (hit, miss).',
    ['result'],
  )
  /** `jwtgate_requests_in_flight`: requests received and not yet answered with headers. */
  readonly inFlight = new Gauge(
    'jwtgate_requests_in_flight',
    'Requests received and not yet answered with headers.',
  )
  /** `jwtgate_rate_limited_total`: requests refused by a named rate limit, by limit. */
  readonly rateLimited = new Counter(
    'jwtgate_rate_limited_total',
    'Requests refused (429) by a named rate limit, by limit.',
    ['limit'],
  )
  /**
   * `jwtgate_websocket_connections`: WebSocket connections open, being opened, or closed by the
   * gateway and not yet by the client.
   */
  readonly websocketsOpen = new Gauge(
    'jwtgate_websocket_connections',
    'WebSocket connections open, being opened, or closed by the gateway and not yet by the client.',
  )
  /** `jwtgate_websocket_messages_total`: messages relayed, by direction (in: client to upstream). */
  readonly websocketMessages = new Counter(
    'jwtgate_websocket_messages_total',
    'WebSocket messages relayed, by direction (in: from the client, out: to it).',
    ['direction'],
  )
  /** `jwtgate_websocket_bytes_total`: message bytes relayed, by direction. */
  readonly websocketBytes = new Counter(
    'jwtgate_websocket_bytes_total',
    'WebSocket message bytes relayed (text as UTF-8), by direction.',
    ['direction'],
  )
  /** `jwtgate_websocket_closes_total`: connections ended, by cause. */
  readonly websocketCloses = new Counter(
    'jwtgate_websocket_closes_total',
    'WebSocket connections ended, by cause (client, upstream, expired, revoked, too_big, …).',
    ['reason'],
  )
  /** Shared stores (Redis) whose health `/metrics` reports. */
  readonly stores: StoreHealth[] = []
  /** The revocations in force, reported as `jwtgate_revocations` and `_confirmed`. */
  revocations: { readonly size: number; readonly confirmed: boolean } | undefined
  /** When the metrics were created, in seconds since the epoch. */
  readonly startTime: number
  /** The cache counters, kept at hand: they move on every request with a token. */
  readonly cacheHits: CounterCell = this.cache.cell(['hit'])
  /** The cache-miss counter (see `cacheHits`). */
  readonly cacheMisses: CounterCell = this.cache.cell(['miss'])
  readonly #routes = new Map<string, RouteSeries>()
  readonly #upstreams = new Map<string, HistogramSeries>()

  /**
   * Creates empty metrics; the gateway does so itself.
   *
   * @param now The start time, in milliseconds since the epoch (default: now).
   */
  constructor(now: number = Date.now()) {
    this.startTime = now / 1000
  }

  /** Counts one answered request and its duration, without building a label key per request. */
  countRequest(route: string, method: string, status: number, seconds: number): void {
    let series = this.#routes.get(route)
    if (series === undefined) {
      series = { duration: this.requestDuration.series([route]), counts: new Map() }
      this.#routes.set(route, series)
    }
    const classIndex = methodClassIndex(method)
    const key = status * 4 + classIndex
    let cell = series.counts.get(key)
    if (cell === undefined) {
      cell = this.requests.cell([route, METHOD_CLASSES[classIndex]!, String(status)])
      series.counts.set(key, cell)
    }
    cell.value++
    series.duration.observe(seconds)
  }

  /** Records the time an upstream took to answer with headers. */
  observeUpstream(upstream: string, seconds: number): void {
    let series = this.#upstreams.get(upstream)
    if (series === undefined) {
      series = this.upstreamDuration.series([upstream])
      this.#upstreams.set(upstream, series)
    }
    series.observe(seconds)
  }

  /** Every metric in the Prometheus text format (version 0.0.4), as `/metrics` serves it. */
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
      this.rateLimited.render(),
      this.websocketsOpen.render(),
      this.websocketMessages.render(),
      this.websocketBytes.render(),
      this.websocketCloses.render(),
      renderStores(this.stores),
      this.revocations === undefined ? '' : renderRevocations(this.revocations),
      `# HELP jwtgate_process_start_time_seconds Start time of the process since the Unix epoch.\n# TYPE jwtgate_process_start_time_seconds gauge\njwtgate_process_start_time_seconds ${this.startTime}\n`,
    ].join('')
  }
}

/**
 * Gauges of state each worker holds a copy of (the revocations in force, a store's health), not a
 * share of: summed over workers they would count it once per worker, so `/metrics` reports the
 * least of the workers' values — what is in force everywhere, up only where every worker sees it
 * up. Every other gauge (requests in flight, open WebSockets) is a share and is summed. A new
 * gauge is one or the other: tests/cli/workers.test.ts fails on a gauge in neither.
 */
export const COPY_GAUGES: ReadonlySet<string> = new Set([
  'jwtgate_store_up',
  'jwtgate_revocations',
  'jwtgate_revocations_confirmed',
])

/** `jwtgate_store_up`, `jwtgate_store_failures_total`, `jwtgate_store_fallbacks_total`. */
function renderStores(stores: readonly StoreHealth[]): string {
  if (stores.length === 0) return ''
  const family = (name: string, type: string, help: string, value: (s: StoreHealth) => number) =>
    `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n` +
    stores.map((s) => `${name}{store="${escapeLabel(s.name)}"} ${value(s)}\n`).join('')
  return family(
    'jwtgate_store_up',
    'gauge',
    'Whether the shared store answers (1) or its breaker is open (0).',
    (s) => s.up ? 1 : 0,
  ) +
    family(
      'jwtgate_store_failures_total',
      'counter',
      'Calls to the shared store that failed or passed their deadline.',
      (s) => s.failures,
    ) +
    family(
      'jwtgate_store_fallbacks_total',
      'counter',
      'Rate-limit takes the fallback answered while the store could not.',
      (s) => s.fallbacks,
    )
}

/** `jwtgate_revocations` and `jwtgate_revocations_confirmed`. */
function renderRevocations(list: { readonly size: number; readonly confirmed: boolean }): string {
  return `# HELP jwtgate_revocations Revocations in force (jti, token, subject and issuer entries).
# TYPE jwtgate_revocations gauge
jwtgate_revocations ${list.size}
# HELP jwtgate_revocations_confirmed Whether the revocations are in step with their store (0: Redis unreachable since the last sync).
# TYPE jwtgate_revocations_confirmed gauge
jwtgate_revocations_confirmed ${list.confirmed ? 1 : 0}
`
}
