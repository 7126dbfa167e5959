/** The Prometheus text format (0.0.4), read back (not collected: no `.test.`). */

/** One sample of the Prometheus text format. */
export interface Sample {
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  readonly value: number
}

/** Parses the Prometheus text format (0.0.4): samples, and each metric family's TYPE. */
export function parsePrometheus(text: string): { samples: Sample[]; types: Map<string, string> } {
  const samples: Sample[] = []
  const types = new Map<string, string>()
  for (const line of text.split('\n')) {
    if (line === '') continue
    const type = /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/.exec(line)
    if (type) {
      types.set(type[1]!, type[2]!)
      continue
    }
    if (line.startsWith('#')) continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (m === null) throw new Error(`not a Prometheus sample line: ${JSON.stringify(line)}`)
    const labels: Record<string, string> = {}
    const body = m[2] ?? ''
    const pair = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)/g
    let consumed = 0
    for (let p = pair.exec(body); p !== null; p = pair.exec(body)) {
      labels[p[1]!] = p[2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\')
      consumed = pair.lastIndex
    }
    if (consumed !== body.length) throw new Error(`bad label set in ${JSON.stringify(line)}`)
    const raw = m[3]!
    const value = raw === '+Inf' ? Infinity : raw === '-Inf' ? -Infinity : Number(raw)
    if (Number.isNaN(value) && raw !== 'NaN') {
      throw new Error(`bad value in ${JSON.stringify(line)}`)
    }
    samples.push({ name: m[1]!, labels, value })
  }
  return { samples, types }
}

/** The value of the sample named `name` with exactly `labels`, or undefined. */
export function sampleValue(
  samples: readonly Sample[],
  name: string,
  labels: Readonly<Record<string, string>> = {},
): number | undefined {
  const want = Object.entries(labels).sort()
  const found = samples.filter((s) =>
    s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === JSON.stringify(want)
  )
  if (found.length > 1) {
    throw new Error(`${name} ${JSON.stringify(labels)} appears ${found.length} times`)
  }
  return found[0]?.value
}
