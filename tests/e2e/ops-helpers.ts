/**
 * Helpers for the operations suite (not collected: no `.test.`): self-signed certificates, the
 * Prometheus text format, and raw TCP probes. (The gateway process, with its signals, exit time
 * and admin port: ../helpers/process.ts.)
 */
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { connect } from 'node:net'
import { join } from 'node:path'

/** Resolves with `promise`'s value, or with `fallback` after `ms`. */
export function within<T, F>(promise: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  let timer: ReturnType<typeof setTimeout> | undefined
  return Promise.race([
    promise,
    new Promise<F>((resolve) => (timer = setTimeout(resolve, ms, fallback))),
  ]).finally(() => clearTimeout(timer))
}

/** Opens a fresh TCP connection to 127.0.0.1:`port`: `refused`, `open` (then closed at once), or `timeout`. */
export function probeConnect(
  port: number,
  timeoutMs = 2000,
): Promise<'refused' | 'open' | 'timeout' | string> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port })
    const timer = setTimeout(() => {
      socket.destroy()
      resolve('timeout')
    }, timeoutMs)
    socket.on('connect', () => {
      clearTimeout(timer)
      socket.destroy()
      resolve('open')
    })
    socket.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer)
      resolve(e.code === 'ECONNREFUSED' ? 'refused' : `error ${e.code}`)
    })
  })
}

/** A self-signed P-256 certificate for 127.0.0.1/localhost, made with openssl in `dir`. */
export function selfSigned(
  dir: string,
  name: string,
): { cert: string; key: string; certPem: string } {
  const cert = join(dir, `${name}-cert.pem`)
  const key = join(dir, `${name}-key.pem`)
  const r = spawnSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
      '-keyout',
      key,
      '-out',
      cert,
    ],
    { encoding: 'utf8', timeout: 10_000 },
  )
  if (r.status !== 0) throw new Error(`openssl req failed: ${r.stderr}`)
  return { cert, key, certPem: readFileSync(cert, 'utf8') }
}

/** A second P-256 private key in PEM (PKCS#8), matching no certificate. */
export function otherKey(dir: string, name: string): string {
  const key = join(dir, `${name}-key.pem`)
  const r = spawnSync('openssl', [
    'genpkey',
    '-algorithm',
    'EC',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-out',
    key,
  ], { encoding: 'utf8', timeout: 10_000 })
  if (r.status !== 0) throw new Error(`openssl genpkey failed: ${r.stderr}`)
  return key
}

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

/**
 * A keep-alive HTTP/1.1 connection opened now, for probes "on connections already open":
 * `get(path)` writes a request on it and resolves with the status code, or `closed` when the
 * server closed the connection instead of answering, or `timeout` after `timeoutMs`.
 */
export async function keepAlive(
  port: number,
): Promise<
  { get(path: string, timeoutMs?: number): Promise<number | 'closed' | 'timeout'>; close(): void }
> {
  const socket = connect({ host: '127.0.0.1', port })
  let data = ''
  let closed = false
  const waiters = new Set<() => void>()
  const wake = () => {
    for (const w of waiters) w()
  }
  socket.on('data', (chunk) => {
    data += chunk.toString('latin1')
    wake()
  })
  socket.on('close', () => {
    closed = true
    wake()
  })
  socket.on('error', () => {})
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve())
    socket.once('error', reject)
  })
  return {
    get(path, timeoutMs = 2000) {
      data = ''
      if (!closed) socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`)
      return new Promise((resolve) => {
        const check = () => {
          const m = /^HTTP\/1\.1 (\d{3}) /.exec(data)
          if (m !== null || closed) {
            clearTimeout(timer)
            waiters.delete(check)
            resolve(m !== null ? Number(m[1]) : 'closed')
          }
        }
        const timer = setTimeout(() => {
          waiters.delete(check)
          resolve('timeout')
        }, timeoutMs)
        waiters.add(check)
        check()
      })
    },
    close: () => void socket.destroy(),
  }
}
