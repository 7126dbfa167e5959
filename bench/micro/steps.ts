/**
 * @module Where jwtgate's CPU per request goes above bun-floor's, step by step, in one process:
 *   node_modules/.bin/bun bench/micro/steps.ts        (STEPS_REQUEST=browser STEPS_ROUNDS=12 STEPS_CALLS=60000)
 * Copies of `src/` with one more step cut out each (cuts.ts, cumulative), bun-floor's
 * per-request work (the shared harness's peer, without its server) and minimal JWT gateways on it,
 * duty by duty (floors.ts), each answered
 * by the same stub upstream, in alternating rounds; medians of µs per request (a new client
 * Request each call, ~1.5 µs of every figure, as a server hands one over). Between runs of the
 * shared harness the noise on this machine is ±3 µs per request; here it is ±0.3–0.5, which is
 * what makes steps of a fraction of a µs visible. The request is the harness's (`wrk`: Host and a
 * bearer token) or a browser's (`browser`: ten headers). Bun only (the copies import as Bun does).
 * With STEPS_COMPARE=<git revision> it compares instead of cutting: the working tree's `src/` and
 * that revision's (`git archive`), beside bun-floor's work, in the same alternating rounds — an A/B
 * of a change in one process.
 */
import { spawnSync } from 'node:child_process'
import { cpSync, mkdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { applyEdit, CUTS } from './cuts.ts'
import { binaryDeps, clientRequest, fixture, upstreamStub } from './fixtures.ts'
import { observed, references } from './floors.ts'

const env = process.env
const ROUNDS = Number(env.STEPS_ROUNDS ?? 12)
const CALLS = Number(env.STEPS_CALLS ?? 60_000)
const BROWSER = env.STEPS_REQUEST === 'browser'
const COMPARE = env.STEPS_COMPARE

const root = fileURLToPath(new URL('../..', import.meta.url))
/**
 * Under the checkout, so that the copies resolve jose and valibot as src/ does; one folder per run
 * (two runs at once keep apart), removed at the end, also on Ctrl-C.
 */
const scratch = join(root, 'bench', '.steps', String(process.pid))
function removeScratch(): void {
  rmSync(scratch, { recursive: true, force: true })
  try {
    rmdirSync(join(root, 'bench', '.steps')) // when no other run uses it
  } catch {
    // another run's copies are there, or it is gone already
  }
}
process.once('SIGINT', () => {
  removeScratch()
  process.exit(130)
})

const f = await fixture('HS256')
const request = BROWSER
  ? () => clientRequest(f.token)
  : () =>
    new Request('http://127.0.0.1:18090/', {
      headers: { host: '127.0.0.1:18090', authorization: `Bearer ${f.token}` },
    })

/** `src/` of the working tree and of git revision `rev`, with their labels. */
function compared(rev: string): { dir: string; label: string }[] {
  removeScratch()
  const out: { dir: string; label: string }[] = []
  const sides: [string, string][] = [['tree', 'jwtgate (working tree)'], [
    'rev',
    `jwtgate at ${rev}`,
  ]]
  for (const [name, label] of sides) {
    const dir = join(scratch, name)
    mkdirSync(dir, { recursive: true })
    if (name === 'tree') cpSync(join(root, 'src'), join(dir, 'src'), { recursive: true })
    else {
      const archive = spawnSync('git', ['-C', root, 'archive', rev, 'src'], { maxBuffer: 1 << 28 })
      if (archive.status !== 0) throw new Error(`git archive ${rev}: ${archive.stderr}`)
      const untar = spawnSync('tar', ['-x', '-C', dir], { input: archive.stdout })
      if (untar.status !== 0) throw new Error(`tar: ${untar.stderr}`)
    }
    out.push({ dir: join(dir, 'src'), label })
  }
  return out
}

/** Copies of src/: [0] as it is, [i] with cuts 1..i. */
function copies(): string[] {
  removeScratch()
  const dirs: string[] = []
  const edited = new Map<string, string>()
  for (let i = 0; i <= CUTS.length; i++) {
    const dir = join(scratch, String(i))
    mkdirSync(dir, { recursive: true })
    cpSync(join(root, 'src'), join(dir, 'src'), { recursive: true })
    if (i > 0) {
      for (const edit of CUTS[i - 1]!.edits) {
        const text = edited.get(edit.file) ?? readFileSync(join(root, 'src', edit.file), 'utf8')
        edited.set(edit.file, applyEdit(text, edit))
      }
    }
    for (const [file, text] of edited) writeFileSync(join(dir, 'src', file), text)
    dirs.push(join(dir, 'src'))
  }
  return dirs
}

interface Handler {
  readonly label: string
  readonly fetch: (request: Request) => Promise<Response>
}

// bun-floor's work, and minimal JWT gateways on it (floors.ts): the first rows.
const handlers: Handler[] = references(upstreamStub, f.token)
const REFERENCES = handlers.length
try {
  const sources = COMPARE === undefined
    ? copies().map((dir, i) => ({
      dir,
      label: i === 0 ? 'jwtgate' : `… without ${CUTS[i - 1]!.label}`,
    }))
    : compared(COMPARE)
  for (const { dir, label } of sources) {
    const { createGateway } = await import(join(dir, 'core', 'gateway.ts'))
    const gateway = createGateway(f.config, binaryDeps)
    const info = { clientAddress: '192.0.2.7', protocol: 'http' as const }
    handlers.push({ label, fetch: (r) => gateway.fetch(r, info) })
  }
} finally {
  removeScratch()
}

const times: number[][] = handlers.map(() => [])
const gc = (globalThis as unknown as { Bun?: { gc(full: boolean): void } }).Bun?.gc
for (let round = 0; round < ROUNDS; round++) {
  for (let h = 0; h < handlers.length; h++) {
    gc?.(true)
    const handler = handlers[h]!
    const started = performance.now()
    for (let i = 0; i < CALLS; i++) {
      const response = await handler.fetch(request())
      if (response.status !== 200) throw new Error(`${handler.label}: ${response.status}`)
    }
    times[h]!.push(((performance.now() - started) * 1000) / CALLS)
  }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1]!
const medians = times.map(median)
console.log(
  `${
    BROWSER ? 'A browser-like request (ten headers)' : 'The harness’s request (Host, bearer token)'
  }` +
    `, ${ROUNDS} alternating rounds of ${CALLS} calls, median µs per request:\n`,
)
console.log('| what runs | µs | step |\n|---|--:|--:|')
for (let h = 0; h < handlers.length; h++) {
  // A cut's step, or a reference's cost above the one before it.
  const step = COMPARE !== undefined || h === 0 || h === REFERENCES
    ? ''
    : h < REFERENCES
    ? `+${(medians[h]! - medians[h - 1]!).toFixed(2)}`
    : (medians[h - 1]! - medians[h]!).toFixed(2)
  console.log(`| ${handlers[h]!.label} | ${medians[h]!.toFixed(2)} | ${step} |`)
}
if (!(observed() > 0)) throw new Error('the minimal gateways observed nothing')
