/**
 * deploy/ (issue 12): the Grafana dashboard against a live /metrics of dist/jwtgate, and the
 * Dockerfile, systemd unit and Kubernetes manifest checked without a container engine, a running
 * systemd or a cluster — statically, with `jwtgate check` on their configuration, the health-check
 * command run against a real gateway, and `systemd-analyze verify` where it is installed.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { spawnSync } from 'node:child_process'
import { closeSync, existsSync, openSync, readFileSync, readSync } from 'node:fs'
import { join } from 'node:path'
import { parse as parseYaml, parseAllDocuments } from 'yaml'
import { keyPair, secret, sign } from '../helpers/keys.ts'
import {
  BINARY,
  freePort,
  type Gateway,
  ROOT,
  runTarget,
  sleep,
  startGateway,
  type Target,
} from '../helpers/process.ts'
import { serve, type TestServer } from '../helpers/serve.ts'
import { TempDir } from '../helpers/files.ts'
import { parsePrometheus } from '../helpers/prometheus.ts'
import { pollUntil } from '../helpers/wait.ts'

const DEPLOY = join(ROOT, 'deploy')
const read = (name: string) => readFileSync(join(DEPLOY, name), 'utf8')
/** Labels Prometheus adds when it scrapes a target: never in /metrics, always in the database. */
const TARGET_LABELS = new Set(['job', 'instance'])

// ---------------------------------------------------------------------------------------------
// /metrics, as metric families

interface Family {
  readonly type: string
  /** Label names of its samples (`le` excluded), and the values seen of each. */
  readonly values: Map<string, Set<string>>
}

/** Every family that /metrics declares (`# TYPE`), with the labels its samples carry. */
function familiesOf(text: string): Map<string, Family> {
  const { samples, types } = parsePrometheus(text)
  const families = new Map<string, Family>()
  for (const [name, type] of types) families.set(name, { type, values: new Map() })
  for (const s of samples) {
    const family = families.get(resolve(families, s.name)?.family ?? '')
    if (family === undefined) throw new Error(`sample ${s.name} has no # TYPE`)
    for (const [label, value] of Object.entries(s.labels)) {
      if (label === 'le') continue
      if (!family.values.has(label)) family.values.set(label, new Set())
      family.values.get(label)!.add(value)
    }
  }
  return families
}

/** A series name → its family (`_bucket`, `_sum`, `_count` of a histogram → the histogram). */
function resolve(
  families: ReadonlyMap<string, Family>,
  name: string,
): { family: string; bucket: boolean } | undefined {
  if (families.has(name)) return { family: name, bucket: false }
  const m = /^(.*)_(bucket|sum|count)$/.exec(name)
  if (m && families.get(m[1]!)?.type === 'histogram') {
    return { family: m[1]!, bucket: m[2] === 'bucket' }
  }
  return undefined
}

// ---------------------------------------------------------------------------------------------
// The dashboard's queries, checked against those families

interface Query {
  readonly where: string
  readonly expr: string
  readonly legend?: string
}

interface Panel {
  id?: number
  type?: string
  title?: string
  datasource?: { type?: string; uid?: string }
  targets?: { expr?: string; legendFormat?: string; refId?: string; datasource?: unknown }[]
  panels?: Panel[]
  gridPos?: unknown
}

interface Dashboard {
  panels: Panel[]
  templating: { list: { name: string; type: string; query: unknown; datasource?: unknown }[] }
}

function allPanels(panels: readonly Panel[]): Panel[] {
  return panels.flatMap((p) => [p, ...allPanels(p.panels ?? [])])
}

/** Every PromQL query of the dashboard: panel targets, and the template variables' queries. */
function queriesOf(dashboard: Dashboard): Query[] {
  const out: Query[] = []
  for (const panel of allPanels(dashboard.panels)) {
    for (const t of panel.targets ?? []) {
      out.push({
        where: `panel "${panel.title}" ${t.refId}`,
        expr: t.expr ?? '',
        legend: t.legendFormat,
      })
    }
  }
  for (const v of dashboard.templating.list) {
    if (v.type !== 'query') continue
    const q = v.query as string | { query: string }
    out.push({ where: `variable $${v.name}`, expr: typeof q === 'string' ? q : q.query })
  }
  return out
}

/** The text of the balanced parentheses that open at `open` (exclusive of them). */
function balanced(text: string, open: number): string {
  let depth = 0
  for (let i = open; i < text.length; i++) {
    if (text[i] === '(') depth++
    if (text[i] === ')' && --depth === 0) return text.slice(open + 1, i)
  }
  throw new Error(`unbalanced parentheses in ${text}`)
}

const METRIC = /\bjwtgate_[a-zA-Z0-9_]+/g
const SELECTOR = /\b(jwtgate_[a-zA-Z0-9_]+)\s*\{([^}]*)\}/g
const MATCHER = /([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"/g

/**
 * What is wrong with `queries` given the families of a real /metrics: unknown metric names,
 * labels a metric does not have (in matchers, `by`/`without`, `label_values` and legends),
 * literal label values it never had, `rate` over a gauge, quantiles not over `_bucket` by `le`.
 * Empty when all is well.
 */
function dashboardProblems(queries: readonly Query[], families: ReadonlyMap<string, Family>) {
  const problems: string[] = []
  const labelsOf = (name: string): Set<string> | undefined => {
    const r = resolve(families, name)
    if (r === undefined) return undefined
    const labels = new Set([...families.get(r.family)!.values.keys(), ...TARGET_LABELS])
    if (r.bucket) labels.add('le')
    return labels
  }
  for (const { where, expr, legend } of queries) {
    const names = [...expr.matchAll(METRIC)].map((m) => m[0])
    if (names.length === 0) problems.push(`${where}: no jwtgate metric in ${expr}`)
    for (const name of names) {
      if (resolve(families, name) === undefined) {
        problems.push(`${where}: ${name} is not in /metrics`)
      }
    }
    for (const [, name, body] of expr.matchAll(SELECTOR)) {
      const labels = labelsOf(name!)
      if (labels === undefined) continue
      const family = families.get(resolve(families, name!)!.family)!
      for (const [, label, op, value] of body!.matchAll(MATCHER)) {
        if (!labels.has(label!)) {
          problems.push(`${where}: ${name} has no label ${label}`)
          continue
        }
        // A literal value (or alternatives a|b) must be one /metrics showed for that label.
        if (value!.includes('$') || TARGET_LABELS.has(label!) || label === 'le') continue
        const alternatives = op === '=~' || op === '!~' ? value!.split('|') : [value!]
        for (const alt of alternatives) {
          if (!/^[\w.:-]+$/.test(alt)) continue
          if (!family.values.get(label!)?.has(alt)) {
            problems.push(`${where}: ${name} never had ${label}="${alt}"`)
          }
        }
      }
    }
    if (/\)\s*(by|without)\s*\(/.test(expr)) {
      problems.push(`${where}: write "sum by (…) (…)", not the postfix form`)
    }
    for (const m of expr.matchAll(/\b(by|without)\s*\(([^)]*)\)\s*\(/g)) {
      const inner = balanced(expr, m.index! + m[0].length - 1)
      const grouped = m[2]!.split(',').map((l) => l.trim()).filter((l) => l !== '')
      for (const name of inner.match(METRIC) ?? []) {
        const labels = labelsOf(name)
        for (const label of labels === undefined ? [] : grouped) {
          if (!labels!.has(label)) problems.push(`${where}: ${name} has no label ${label}`)
        }
      }
    }
    for (const m of expr.matchAll(/\b(rate|irate|increase)\s*\(\s*(jwtgate_[a-zA-Z0-9_]+)/g)) {
      const r = resolve(families, m[2]!)
      const type = r === undefined ? undefined : families.get(r.family)!.type
      if (type === 'gauge') problems.push(`${where}: ${m[1]} over the gauge ${m[2]}`)
    }
    for (const m of expr.matchAll(/histogram_quantile\s*\(/g)) {
      const inner = balanced(expr, m.index! + m[0].length - 1)
      if (!/_bucket\b/.test(inner) || !/\bby\s*\([^)]*\ble\b/.test(inner)) {
        problems.push(`${where}: histogram_quantile needs rate(…_bucket) summed by (le, …)`)
      }
    }
    const lv = /^label_values\(\s*(jwtgate_[a-zA-Z0-9_]+)[^,]*,\s*(\w+)\s*\)$/.exec(expr)
    if (expr.startsWith('label_values') && lv === null) problems.push(`${where}: cannot read`)
    if (lv && labelsOf(lv[1]!) && !labelsOf(lv[1]!)!.has(lv[2]!)) {
      problems.push(`${where}: ${lv[1]} has no label ${lv[2]}`)
    }
    // A legend label must survive every aggregation: be in each one's `by (…)`.
    const aggregations = [
      ...expr.matchAll(/\b(?:sum|min|max|avg|count)\s*(?:by\s*\(([^)]*)\))?\s*\(/g),
    ]
    for (const [, label] of (legend ?? '').matchAll(/\{\{\s*(\w+)\s*\}\}/g)) {
      if (!names.some((n) => labelsOf(n)?.has(label!))) {
        problems.push(`${where}: legend {{${label}}} is no label of ${names.join(', ')}`)
      } else if (
        aggregations.some((a) => !(a[1] ?? '').split(',').map((l) => l.trim()).includes(label!))
      ) {
        problems.push(`${where}: legend {{${label}}} is aggregated away`)
      }
    }
  }
  return problems
}

// ---------------------------------------------------------------------------------------------
// Small parsers for the other files

/** Seconds of a jwtgate or systemd duration: `500ms`, `30s`, `5m`, `5min`, `1h`, or seconds. */
function seconds(value: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|sec|m|min|h)?$/.exec(value.trim())
  if (m === null) throw new Error(`not a duration: ${value}`)
  const unit = { ms: 0.001, s: 1, sec: 1, m: 60, min: 60, h: 3600 }[m[2] ?? 's']!
  return Number(m[1]) * unit
}

/** `KEY=value` lines (the systemd EnvironmentFile subset the example uses); `#` lines skipped. */
function envFile(text: string): Record<string, string> {
  const env: Record<string, string> = {}
  for (const line of text.split('\n')) {
    const t = line.trim()
    if (t === '' || t.startsWith('#') || t.startsWith(';')) continue
    const eq = t.indexOf('=')
    if (eq <= 0) throw new Error(`not KEY=value: ${line}`)
    env[t.slice(0, eq)] = t.slice(eq + 1)
  }
  return env
}

/** A unit file: section → key → every value given (a unit may repeat a key). */
function unitFile(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>()
  let current: Map<string, string[]> | undefined
  for (const line of text.split('\n')) {
    const t = line.trim()
    if (t === '' || t.startsWith('#') || t.startsWith(';')) continue
    const section = /^\[(\w+)\]$/.exec(t)
    if (section) {
      current = new Map()
      sections.set(section[1]!, current)
      continue
    }
    const eq = t.indexOf('=')
    if (current === undefined || eq <= 0) throw new Error(`unexpected line: ${line}`)
    const key = t.slice(0, eq)
    current.set(key, [...(current.get(key) ?? []), t.slice(eq + 1)])
  }
  return sections
}

interface Instruction {
  readonly op: string
  readonly args: string
}

/** Dockerfile instructions (continuations joined, comments dropped), split into stages. */
function dockerfile(text: string): { global: Instruction[]; stages: Instruction[][] } {
  const joined = text.split('\n').filter((l) => !/^\s*#/.test(l)).join('\n').replace(
    /\\\n/g,
    ' ',
  )
  const global: Instruction[] = []
  const stages: Instruction[][] = []
  for (const line of joined.split('\n')) {
    const m = /^\s*([A-Za-z]+)\s+(.*?)\s*$/.exec(line)
    if (m === null) continue
    const instruction = { op: m[1]!.toUpperCase(), args: m[2]! }
    if (instruction.op === 'FROM') stages.push([])
    ;(stages.at(-1) ?? global).push(instruction)
  }
  return { global, stages }
}

/** `KEY=value KEY2=value2` of an ENV instruction. */
function envPairs(args: string): [string, string][] {
  return [...args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\S+)/g)].map((m) => [
    m[1]!,
    m[2]!.replace(/^"|"$/g, ''),
  ])
}

/** The release targets, read from scripts/build.mjs (importing it would build). */
function releaseTargets(): string[] {
  const source = readFileSync(join(ROOT, 'scripts', 'build.mjs'), 'utf8')
  const list = /export const TARGETS = \[([^\]]*)\]/.exec(source)
  if (list === null) throw new Error('no TARGETS in scripts/build.mjs')
  return [...list[1]!.matchAll(/'([^']+)'/g)].map((m) => m[1]!)
}

function which(command: string): string | undefined {
  const r = spawnSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' })
  return r.status === 0 ? r.stdout.trim() : undefined
}

/** Starts a gateway with `vars` (startGateway's defaults underneath), on `target`. */
function gatewayOn(target: Target, vars: Record<string, string>): Promise<Gateway> {
  return startGateway(target, vars, { admin: true })
}

// ---------------------------------------------------------------------------------------------

const files = new TempDir()
const hmac = secret(32)
let upstream: TestServer
let jwks: { url: string; failing: boolean; stop(): void }
let gateway: Gateway
let families: Map<string, Family>
const dashboard = JSON.parse(read('grafana-dashboard.json')) as Dashboard

beforeAll(async () => {
  upstream = await serve(async (request) => {
    if (new URL(request.url).pathname.startsWith('/slow')) await sleep(1000)
    return Response.json({ ok: true })
  })
  const remoteKey = await keyPair('ES256', 'deploy-k1')
  const state = { failing: false }
  const server = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    fetch() {
      if (state.failing) return new Response('down', { status: 500 })
      return Response.json({ keys: [remoteKey.publicJwk] })
    },
  })
  jwks = Object.assign(state, {
    url: `http://127.0.0.1:${server.port}/jwks`,
    stop: () => void server.stop(true),
  })
  const config = files.write(
    'metrics.yaml',
    // Two workers: the primary's own families (jwtgate_workers, …) are on /metrics too.
    `workers: 2
providers:
  local:
    issuer: https://local.test
    secret: { env: DEPLOY_TEST_SECRET }
  remote:
    issuer: https://remote.test
    jwksUrl: ${jwks.url}
    jwksCooldown: 0s
upstreams:
  api: { url: "${upstream.url}" }
  slow: { url: "${upstream.url}", timeout: 300ms }
  down: { url: "http://127.0.0.1:${freePort()}" }
revocations: { file: ${
      files.write('revoked.jsonl', `{"sub":"mallory","before":${Math.floor(Date.now() / 1000)}}\n`)
    } }
rateLimits:
  limited: { rate: 1/1m, routes: [limited] }
routes:
  - { name: admin, path: /admin/*, upstream: api, require: { roles: { any: [admin] } } }
  - { name: limited, path: /limited/*, upstream: api }
  - { name: slow, path: /slow/*, upstream: slow }
  - { name: down, path: /down/*, upstream: down }
  - { name: api, path: /*, upstream: api }
`,
  )
  gateway = await gatewayOn(BINARY, {
    JWTGATE_CONFIG: config,
    DEPLOY_TEST_SECRET: hmac.config,
  })
  // Ready once the JWK Set has loaded (its first fetch: a success).
  await pollUntil(async () => (await fetch(`${gateway.adminUrl}/readyz`)).status === 200, 5000, 25)
  const local = `Bearer ${await sign({ sub: 'ann', iss: 'https://local.test' }, {
    alg: 'HS256',
    key: hmac.raw,
  })}`
  const remote = `Bearer ${await sign({ sub: 'bob', iss: 'https://remote.test' }, {
    alg: 'ES256',
    key: remoteKey.privateKey,
    kid: 'deploy-k1',
  })}`
  const stranger = await keyPair('ES256', 'deploy-k9')
  const unknownKid = `Bearer ${await sign({ sub: 'eve', iss: 'https://remote.test' }, {
    alg: 'ES256',
    key: stranger.privateKey,
    kid: 'deploy-k9',
  })}`
  const hit = async (path: string, authorization?: string) => {
    const response = await fetch(`${gateway.url}${path}`, {
      headers: authorization === undefined ? {} : { authorization },
      signal: AbortSignal.timeout(5000),
    })
    await response.text()
    return response.status
  }
  // Every family gets samples, and every literal label value the dashboard names appears.
  const statuses = [
    await hit('/ok', local), // allowed: upstream and verification timed, a cache miss
    await hit('/ok', local), // a cache hit (with two workers, one of these three lands on the
    await hit('/ok', local), // worker that verified it, whichever connection each takes)
    await hit('/ok', local),
    await hit('/ok', remote), // the remote provider, keys from the JWK Set (a fetch: success)
    await hit('/ok'), // 401 token_missing
    await hit('/admin/x', local), // 403 insufficient_role
    await hit('/down/x', local), // 502 upstream_unreachable
    await hit('/slow/x', local), // 504 upstream_timeout
    await hit('/limited/x', local), // a named limit: allowed, then 429 (its bucket is the primary's)
    await hit('/limited/x', local),
  ]
  jwks.failing = true
  statuses.push(await hit('/ok', unknownKid)) // a refetch for the unknown kid fails: 401
  expect(statuses).toEqual([200, 200, 200, 200, 200, 401, 403, 502, 504, 200, 429, 401])
  let text = ''
  await pollUntil(
    async () => {
      text = await (await fetch(`${gateway.adminUrl}/metrics`)).text()
      const done = familiesOf(text)
      return done.get('jwtgate_requests_total')!.values.get('status')?.has('504') === true &&
        done.get('jwtgate_jwks_fetches_total')!.values.get('result')?.has('failure') === true
    },
    5000,
    50,
  )
  families = familiesOf(text)
})

afterAll(async () => {
  await gateway?.kill()
  await upstream?.close()
  jwks?.stop()
  files.remove()
})

describe('deploy/grafana-dashboard.json', () => {
  const queries = queriesOf(dashboard)

  test('every metric, label and label value it queries is in /metrics of dist/jwtgate', () => {
    expect(queries.length).toBeGreaterThan(20)
    expect(dashboardProblems(queries, families)).toEqual([])
  })

  test('it shows every metric family jwtgate exports', () => {
    const used = new Set(
      queries.flatMap((q) => (q.expr.match(METRIC) ?? []).map((n) => resolve(families, n)?.family)),
    )
    expect([...families.keys()].filter((f) => !used.has(f))).toEqual([])
  })

  test('the checker fails on a renamed metric, a wrong label, an unseen value, rate of a gauge', () => {
    const broken = (from: string | RegExp, to: string) =>
      dashboardProblems(
        queries.map((q) => ({ ...q, expr: q.expr.replace(from, to) })),
        families,
      )
    expect(broken('jwtgate_token_cache_total', 'jwtgate_token_cache_hits_total').join('\n'))
      .toContain('jwtgate_token_cache_hits_total is not in /metrics')
    expect(broken('by (reason)', 'by (code)').join('\n')).toContain('has no label code')
    expect(broken('status=~"502|504"', 'status=~"502|503"').join('\n'))
      .toContain('never had status="503"')
    expect(broken('result="hit"', 'outcome="hit"').join('\n')).toContain('has no label outcome')
    expect(
      broken(
        /\(jwtgate_requests_in_flight(\{[^}]*\})\)/,
        '(rate(jwtgate_requests_in_flight$1[5m]))',
      ).join('\n'),
    ).toContain('rate over the gauge')
    expect(broken(/by \(le\)/g, 'by (route)').join('\n')).toContain('histogram_quantile needs')
    const legend = (expr: string) =>
      dashboardProblems([{ where: 'x', expr, legend: '{{route}}' }], families)
    expect(legend('sum by (route) (rate(jwtgate_requests_total[5m]))')).toEqual([])
    expect(legend('sum(rate(jwtgate_requests_total[5m]))')).toEqual([
      'x: legend {{route}} is aggregated away',
    ])
    expect(legend('sum by (reason) (rate(jwtgate_rejections_total[5m]))')).toEqual([
      'x: legend {{route}} is no label of jwtgate_rejections_total',
    ])
  })

  test('panels use the datasource variable; quantiles p50/p95/p99 of the three histograms', () => {
    const variable = dashboard.templating.list.find((v) => v.type === 'datasource')
    expect(variable).toMatchObject({ name: 'datasource', query: 'prometheus' })
    const panels = allPanels(dashboard.panels).filter((p) => p.type !== 'row')
    for (const p of panels) {
      expect({ panel: p.title, ds: p.datasource }).toEqual({
        panel: p.title,
        ds: { type: 'prometheus', uid: '${datasource}' },
      })
      for (const t of p.targets ?? []) expect(t.datasource).toEqual(p.datasource)
      const refIds = (p.targets ?? []).map((t) => t.refId)
      expect(new Set(refIds).size).toBe(refIds.length)
      expect(p.gridPos).toBeDefined()
    }
    const ids = allPanels(dashboard.panels).map((p) => p.id)
    expect(new Set(ids).size).toBe(ids.length)
    for (const v of dashboard.templating.list.filter((v) => v.type === 'query')) {
      expect(v.datasource).toEqual({ type: 'prometheus', uid: '${datasource}' })
    }
    for (
      const h of [
        'jwtgate_request_duration_seconds',
        'jwtgate_upstream_duration_seconds',
        'jwtgate_token_verification_seconds',
      ]
    ) {
      for (const q of ['0.5', '0.95', '0.99']) {
        expect({
          h,
          q,
          found: queries.some((x) =>
            x.expr.includes(`histogram_quantile(${q}, `) && x.expr.includes(`${h}_bucket`)
          ),
        }).toEqual({ h, q, found: true })
      }
    }
  })
})

describe('deploy/Dockerfile (no container engine here: read, and its probe run)', () => {
  const { global, stages } = dockerfile(read('Dockerfile'))
  const final = stages.at(-1)!
  const all = (stage: Instruction[], op: string) => stage.filter((i) => i.op === op)
  const env = new Map(all(final, 'ENV').flatMap((i) => envPairs(i.args)))
  const stageNamed = (name: string) =>
    stages.find((s) => new RegExp(`\\bAS\\s+${name}$`, 'i').test(s[0]!.args))
  const healthcheck = (() => {
    const [h] = all(final, 'HEALTHCHECK')
    const m = /^(.*?)\bCMD\s+(\[.*\])$/.exec(h?.args ?? '')
    if (m === null) throw new Error('no HEALTHCHECK … CMD [exec form]')
    return { options: m[1]!, command: JSON.parse(m[2]!) as string[] }
  })()
  const copiesInto = (stage: Instruction[]) =>
    all(stage, 'COPY').map((i) => {
      const words = i.args.split(/\s+/)
      const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length)
      const paths = words.filter((w) => !w.startsWith('--'))
      return { from, sources: paths.slice(0, -1), dest: paths.at(-1)! }
    })

  test('the executables it copies are release glibc ones for amd64 and arm64, picked by TARGETARCH', () => {
    expect(global.some((i) => i.op === 'ARG' && /^TARGETARCH\b/.test(i.args))).toBe(true)
    const targets = releaseTargets()
    const picked: Record<string, string> = {}
    for (const arch of ['amd64', 'arm64']) {
      const stage = stageNamed(`binary-${arch}`)
      expect(stage).toBeDefined()
      const [copy] = copiesInto(stage!)
      const name = copy!.sources[0]!
      expect(name).toMatch(/^dist\/release\/jwtgate-/)
      expect(targets).toContain(name.slice('dist/release/jwtgate-'.length))
      picked[arch] = name
    }
    expect(picked).toEqual({
      amd64: 'dist/release/jwtgate-linux-x64',
      arm64: 'dist/release/jwtgate-linux-arm64',
    })
    expect(stages.some((s) => /^binary-\$\{TARGETARCH\}\s+AS\s+binary$/i.test(s[0]!.args)))
      .toBe(true)
    // A glibc executable on a glibc base (distroless/base is Debian's glibc).
    expect(final[0]!.args).toMatch(/^gcr\.io\/distroless\/base-debian\d+(:\S+)?$/)
    for (const name of Object.values(picked)) {
      const path = join(ROOT, name)
      if (!existsSync(path)) continue // no `npm run release` yet: the header check is skipped
      const head = Buffer.alloc(4096)
      const fd = openSync(path, 'r')
      readSync(fd, head, 0, head.length, 0)
      closeSync(fd)
      expect(head.toString('latin1')).toMatch(/\/ld-linux-(x86-64|aarch64)\.so/)
    }
    // The build context sends those executables and nothing else.
    const ignore = read('Dockerfile.dockerignore').split('\n').filter((l) =>
      l !== '' && !l.startsWith('#')
    )
    expect(ignore).toEqual(['*', ...Object.values(picked).map((p) => `!${p}`)])
  })

  test('non-root numeric user, exposed ports, entrypoint, no configuration or secret baked in', () => {
    const [user] = all(final, 'USER')
    expect(user!.args).toMatch(/^[1-9]\d*:[1-9]\d*$/)
    expect([...env.keys()].sort()).toEqual([
      'JWTGATE_ADMIN_HOST',
      'JWTGATE_ADMIN_PORT',
      'JWTGATE_HOST',
      'JWTGATE_PORT',
    ])
    const exposed = all(final, 'EXPOSE').flatMap((i) => i.args.split(/\s+/))
    expect(exposed.sort()).toEqual(
      [env.get('JWTGATE_PORT')!, env.get('JWTGATE_ADMIN_PORT')!].sort(),
    )
    // Only the executable and the probe come in: no config file, key or certificate.
    expect(copiesInto(final).map((c) => c.dest).sort()).toEqual([
      '/usr/local/bin/busybox',
      '/usr/local/bin/jwtgate',
    ])
    expect(all(final, 'ARG')).toEqual([])
    expect(JSON.parse(all(final, 'ENTRYPOINT')[0]!.args)).toEqual(['/usr/local/bin/jwtgate'])
    expect(JSON.parse(all(final, 'CMD')[0]!.args)).toEqual(['serve'])
  })

  test('HEALTHCHECK asks /healthz on 127.0.0.1:$JWTGATE_ADMIN_PORT with a static busybox', () => {
    expect(healthcheck.command[0]).toBe('/usr/local/bin/busybox')
    expect(healthcheck.command.join(' ')).toContain(
      'http://127.0.0.1:${JWTGATE_ADMIN_PORT}/healthz',
    )
    expect(healthcheck.options).toMatch(/--timeout=\d+s/)
    // The admin listener must answer on loopback inside the container.
    expect(['0.0.0.0', '127.0.0.1']).toContain(env.get('JWTGATE_ADMIN_HOST') ?? 'unset')
    const probe = copiesInto(final).find((c) => c.dest === healthcheck.command[0])!
    expect(probe.sources).toEqual(['/bin/busybox'])
    expect(stageNamed(probe.from!)![0]!.args).toMatch(/^busybox:[\w.-]*musl AS /)
  })

  // The image's busybox is static musl; Debian's static busybox crashes in wget (glibc's resolver
  // cannot be linked statically), so the host's sh and GNU wget stand in, with the same flags.
  const wget = which('wget')
  test.skipIf(wget === undefined)(
    'the HEALTHCHECK command, run here with sh and wget: 0 against a gateway, not 0 on a closed port',
    () => {
      const [tool, shell, flag, script] = healthcheck.command
      expect([tool, shell, flag]).toEqual(['/usr/local/bin/busybox', 'sh', '-c'])
      const local = script!.replaceAll('/usr/local/bin/busybox wget ', `${wget} `)
      expect(local).not.toContain('busybox')
      const run = (port: string) =>
        spawnSync('sh', ['-c', local], {
          env: { PATH: process.env.PATH ?? '', JWTGATE_ADMIN_PORT: port },
          timeout: 10_000,
        }).status
      expect(run(new URL(gateway.adminUrl!).port)).toBe(0)
      expect(run(String(freePort()))).not.toBe(0)
      // /healthz, not any path: the admin listener answers 404 elsewhere.
      const elsewhere = local.replace('/healthz', '/nothing')
      expect(
        spawnSync('sh', ['-c', elsewhere], {
          env: {
            PATH: process.env.PATH ?? '',
            JWTGATE_ADMIN_PORT: new URL(gateway.adminUrl!).port,
          },
          timeout: 10_000,
        }).status,
      ).not.toBe(0)
    },
  )

  // The image's conditions without an image: its user, a read-only root, no HOME (root only).
  const canIsolate = process.getuid?.() === 0 && which('unshare') !== undefined &&
    which('setpriv') !== undefined
  test.skipIf(!canIsolate)(
    'the executable runs as the image user on a read-only root, /healthz answers',
    async () => {
      const [uid, gid] = all(final, 'USER')[0]!.args.split(':')
      const isolated: Target = {
        name: 'dist/jwtgate as the image user on a read-only root',
        command: [
          'unshare',
          '-m',
          'sh',
          '-c',
          `mount --make-rprivate / && mount -o remount,bind,ro / && cd / && ` +
          `exec setpriv --reuid=${uid} --regid=${gid} --clear-groups --inh-caps=-all "$0" "$@"`,
          join(ROOT, 'dist', 'jwtgate'),
        ],
      }
      const contained = await gatewayOn(isolated, {
        JWTGATE_UPSTREAM: upstream.url,
        JWTGATE_SECRET: hmac.config,
        JWTGATE_ADMIN_HOST: '127.0.0.1',
        HOME: '/nonexistent',
      })
      try {
        const status = readFileSync(`/proc/${contained.pid}/status`, 'utf8')
        expect(/^Uid:\s+(\d+)/m.exec(status)![1]).toBe(uid)
        const response = await fetch(`${contained.adminUrl}/healthz`)
        expect(response.status).toBe(200)
        expect(await response.json()).toEqual({ status: 'ok' })
      } finally {
        expect(await contained.kill()).toBe(0)
      }
    },
  )
})

describe('deploy/jwtgate.service and jwtgate.env', () => {
  const unit = unitFile(read('jwtgate.service'))
  const service = unit.get('Service')!
  const one = (key: string) => service.get(key)?.at(-1)
  const env = envFile(read('jwtgate.env'))

  test('DynamicUser, EnvironmentFile, restart, SIGHUP reload, sandbox, no capabilities', () => {
    expect(one('ExecStart')).toBe('/usr/local/bin/jwtgate serve')
    expect({
      DynamicUser: one('DynamicUser'),
      EnvironmentFile: one('EnvironmentFile'),
      Restart: one('Restart'),
      ExecReload: one('ExecReload'),
      KillSignal: one('KillSignal'),
      NoNewPrivileges: one('NoNewPrivileges'),
      ProtectSystem: one('ProtectSystem'),
      ProtectHome: one('ProtectHome'),
      PrivateTmp: one('PrivateTmp'),
      CapabilityBoundingSet: one('CapabilityBoundingSet'),
      AmbientCapabilities: one('AmbientCapabilities'),
    }).toEqual({
      DynamicUser: 'yes',
      EnvironmentFile: '/etc/jwtgate/jwtgate.env',
      Restart: 'on-failure',
      ExecReload: '/bin/kill -HUP $MAINPID',
      KillSignal: 'SIGTERM',
      NoNewPrivileges: 'yes',
      ProtectSystem: 'strict',
      ProtectHome: 'yes',
      PrivateTmp: 'yes',
      CapabilityBoundingSet: '',
      AmbientCapabilities: '',
    })
    // Bun's JIT needs writable and executable memory.
    expect(one('MemoryDenyWriteExecute')).toBeUndefined()
    expect(unit.get('Install')?.get('WantedBy')).toEqual(['multi-user.target'])
  })

  test('stop waits longer than the drain (JWTGATE_SHUTDOWN_TIMEOUT, 30s by default)', () => {
    const drain = seconds(env.JWTGATE_SHUTDOWN_TIMEOUT ?? '30s')
    expect(seconds(one('TimeoutStopSec')!)).toBeGreaterThan(drain)
  })

  test('the example environment file passes `jwtgate check`, and holds no live secret', async () => {
    expect(Object.keys(env).filter((k) => !k.startsWith('JWTGATE_'))).toEqual([])
    expect(Object.keys(env).filter((k) => /SECRET|PRIVATE|PASSWORD/.test(k))).toEqual([])
    const r = await runTarget(BINARY, ['check'], env)
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' })
  })

  const analyze = which('systemd-analyze')
  test.skipIf(analyze === undefined)(
    'systemd-analyze verify: no warning (ExecStart pointed at dist/jwtgate); exposure below 3',
    () => {
      const path = files.write(
        'jwtgate.service',
        read('jwtgate.service').replace(
          /^ExecStart=\/usr\/local\/bin\/jwtgate/m,
          `ExecStart=${join(ROOT, 'dist', 'jwtgate')}`,
        ),
      )
      const verify = spawnSync(analyze!, ['verify', path], { encoding: 'utf8', timeout: 30_000 })
      expect({ code: verify.status, out: `${verify.stdout}${verify.stderr}` }).toEqual({
        code: 0,
        out: '',
      })
      const security = spawnSync(analyze!, ['security', '--offline=true', path], {
        encoding: 'utf8',
        timeout: 30_000,
      })
      const level = /Overall exposure level for \S+: ([\d.]+)/.exec(security.stdout)
      expect(level).not.toBeNull()
      expect(Number(level![1])).toBeLessThan(3)
    },
  )
})

describe('deploy/kubernetes.yaml (no cluster here: read, and its configuration checked)', () => {
  // deno-lint-ignore no-explicit-any
  type Doc = Record<string, any>
  const docs = parseAllDocuments(read('kubernetes.yaml')).map((d) => d.toJS() as Doc)
  const kind = (k: string) => docs.filter((d) => d.kind === k)
  const [configMap] = kind('ConfigMap')
  const [secretDoc] = kind('Secret')
  const [deployment] = kind('Deployment')
  const [service] = kind('Service')
  const pod = deployment?.spec.template.spec as Doc
  const container = pod?.containers[0] as Doc
  const literal = Object.fromEntries(
    (container?.env as Doc[] ?? []).filter((e) => e.value !== undefined).map((
      e,
    ) => [e.name, String(e.value)]),
  ) as Record<string, string>
  const secretValues = (): Record<string, string> => {
    const out: Record<string, string> = {}
    for (const e of container.env as Doc[]) {
      const ref = e.valueFrom?.secretKeyRef
      if (ref === undefined) continue
      expect(ref.name).toBe(secretDoc!.metadata.name)
      const value = secretDoc!.stringData?.[ref.key] ??
        (secretDoc!.data?.[ref.key] && atob(secretDoc!.data[ref.key]))
      expect({ key: ref.key, value: typeof value }).toEqual({ key: ref.key, value: 'string' })
      out[e.name] = value
    }
    return out
  }
  const portNumber = (port: string | number) =>
    typeof port === 'number'
      ? port
      : (container.ports as Doc[]).find((p) => p.name === port)?.containerPort

  test('a ConfigMap, a Secret, a Deployment and a Service', () => {
    expect(docs.map((d) => d.kind).filter((k) => k !== 'PodDisruptionBudget')).toEqual([
      'ConfigMap',
      'Secret',
      'Deployment',
      'Service',
    ])
    expect(service!.spec.selector).toEqual(deployment!.spec.template.metadata.labels)
    expect(deployment!.spec.selector.matchLabels).toEqual(deployment!.spec.template.metadata.labels)
    expect(portNumber(service!.spec.ports[0].targetPort)).toBe(Number(literal.JWTGATE_PORT))
  })

  test('the ConfigMap file, mounted at JWTGATE_CONFIG, passes `jwtgate check` with the Secret', async () => {
    const [key] = Object.keys(configMap!.data)
    const volume = (pod.volumes as Doc[]).find((v) =>
      v.configMap?.name === configMap!.metadata.name
    )
    const mount = (container.volumeMounts as Doc[]).find((m) => m.name === volume?.name)
    expect(mount?.subPath).toBeUndefined() // a subPath mount never sees ConfigMap updates
    expect(literal.JWTGATE_CONFIG).toBe(`${mount!.mountPath}/${key}`)
    const path = files.write('configmap.yaml', configMap!.data[key!])
    const r = await runTarget(BINARY, ['check'], {
      ...literal,
      ...secretValues(),
      JWTGATE_CONFIG: path,
    })
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' })
    expect(r.stdout).toContain('configuration OK')
  })

  test('secrets: the file names them with { env }, the Secret fills them, and holds placeholders', () => {
    const refs: string[] = []
    const walk = (node: unknown, path: string) => {
      if (node === null || typeof node !== 'object') return
      const entries = Object.entries(node)
      for (const [k, v] of entries) {
        if (k === 'secret' || k === 'publicKey') {
          // Never inline in a ConfigMap: a reference to the Secret.
          expect({ path: `${path}.${k}`, type: typeof v }).toEqual({
            path: `${path}.${k}`,
            type: 'object',
          })
        }
        if (k === 'env' && typeof v === 'string') refs.push(v)
        walk(v, `${path}.${k}`)
      }
    }
    walk(parseYaml(configMap!.data[Object.keys(configMap!.data)[0]!]), 'file')
    const values = secretValues()
    expect(refs.length).toBeGreaterThan(0)
    expect(refs.sort()).toEqual(Object.keys(values).sort())
    for (const value of Object.values(values)) expect(value).toContain('CHANGE-ME')
  })

  test('probes on the admin port: readiness /readyz, liveness /healthz', () => {
    expect(literal.JWTGATE_ADMIN_HOST).toBe('0.0.0.0') // the kubelet probes the pod's address
    const admin = Number(literal.JWTGATE_ADMIN_PORT)
    expect(container.readinessProbe.httpGet.path).toBe('/readyz')
    expect(portNumber(container.readinessProbe.httpGet.port)).toBe(admin)
    expect(container.livenessProbe.httpGet.path).toBe('/healthz')
    expect(portNumber(container.livenessProbe.httpGet.port)).toBe(admin)
    expect(Number(literal.JWTGATE_PORT)).not.toBe(admin)
  })

  test('preStop, then the drain, fit in terminationGracePeriodSeconds', () => {
    const preStop = container.lifecycle.preStop
    const wait = preStop.sleep?.seconds ??
      Number(/\bsleep (\d+)/.exec((preStop.exec?.command ?? []).join(' '))?.[1])
    expect(wait).toBeGreaterThan(0)
    const drain = seconds(literal.JWTGATE_SHUTDOWN_TIMEOUT ?? '30s')
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(wait + drain)
  })

  test('non-root (the Dockerfile user), read-only root, no privilege escalation or capability', () => {
    const [uid] = dockerfile(read('Dockerfile')).stages.at(-1)!.filter((i) => i.op === 'USER')[0]!
      .args.split(':')
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: Number(uid) })
    expect(container.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    })
    expect(pod.automountServiceAccountToken).toBe(false)
  })
})
