#!/usr/bin/env node
// npm test: every suite in order, each counted, then one closing line `N passed, N failed`.
// Runs on plain Node (CI has Node and npm; bun and deno come from node_modules/.bin).
import { spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const bin = (name) => join(root, 'node_modules', '.bin', name)
const env = { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' }
let passed = 0
let failed = 0
const results = []
// deno-lint-ignore no-control-regex -- colour escapes start with ESC
const ANSI_COLOR = /\x1b\[[0-9;]*m/g

function run(label, cmd, args, parse) {
  const started = Date.now()
  process.stdout.write(`\n=== ${label}: ${[cmd.replace(root, ''), ...args].join(' ')}\n`)
  const r = spawnSync(cmd, args, {
    cwd: root,
    env,
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
    timeout: 15 * 60 * 1000,
  })
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`.replace(ANSI_COLOR, '')
  process.stdout.write(out)
  let counts = parse ? parse(out) : undefined
  if (counts === undefined) counts = r.status === 0 ? { pass: 1, fail: 0 } : { pass: 0, fail: 1 }
  // A runner that exits non-zero without reporting a failure still failed (a crash, a load error).
  if (r.status !== 0 && counts.fail === 0) counts = { pass: counts.pass, fail: 1 }
  passed += counts.pass
  failed += counts.fail
  results.push(
    `${label}: ${counts.pass} passed, ${counts.fail} failed (${
      ((Date.now() - started) / 1000).toFixed(1)
    } s)`,
  )
  return r.status === 0
}

const bunCounts = (out) => {
  const p = /^\s*(\d+) pass\s*$/m.exec(out)
  const f = /^\s*(\d+) fail\s*$/m.exec(out)
  return p && f ? { pass: Number(p[1]), fail: Number(f[1]) } : undefined
}
const nodeCounts = (out) => {
  const p = /^# pass (\d+)$/m.exec(out)
  const f = /^# fail (\d+)$/m.exec(out)
  return p && f ? { pass: Number(p[1]), fail: Number(f[1]) } : undefined
}
const denoCounts = (out) => {
  const m = /(?:ok|FAILED) \| (\d+) passed(?: \(\d+ steps?\))? \| (\d+) failed/.exec(out)
  return m ? { pass: Number(m[1]), fail: Number(m[2]) } : undefined
}

// A core file that names a runtime breaks the embedders' promise; grep is the second guard
// after the core tsconfig's `"types": []`.
function coreBoundary() {
  const bad = []
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name)
      if (e.isDirectory()) walk(p)
      else if (p.endsWith('.ts')) {
        const text = spawnSync('cat', [p], { encoding: 'utf8' }).stdout
        if (/\b(Bun|Deno|process)\.[a-zA-Z]|from ['"](bun|node):|from ['"]bun['"]/.test(text)) {
          bad.push(p.replace(root, ''))
        }
      }
    }
  }
  walk(join(root, 'src', 'core'))
  return bad
}

run('typecheck (tsc, all)', bin('tsc'), ['-p', 'tsconfig.json'])
run('typecheck (tsc, core without runtime types)', bin('tsc'), ['-p', 'tsconfig.core.json'])
run('typecheck (deno check)', bin('deno'), [
  'check',
  'src/deno.ts',
  'src/mod.ts',
  'tests/core',
  'tests/adapters/deno.test.ts',
])
run('format (deno fmt --check)', bin('deno'), ['fmt', '--check'])
run('lint (deno lint)', bin('deno'), ['lint'])
run('API docs (deno doc --lint)', bin('deno'), [
  'doc',
  '--lint',
  'src/mod.ts',
  'src/adapters/bun.ts',
  'src/adapters/deno.ts',
  'src/adapters/node.ts',
  'src/adapters/hono.ts',
])
{
  const bad = coreBoundary()
  process.stdout.write(
    `\n=== core boundary: ${
      bad.length === 0 ? 'src/core uses web standards only' : `runtime APIs in ${bad.join(', ')}`
    }\n`,
  )
  if (bad.length === 0) passed++
  else failed++
  results.push(`core boundary: ${bad.length === 0 ? '1 passed, 0 failed' : '0 passed, 1 failed'}`)
}
run('unit tests (bun test)', bin('bun'), [
  'test',
  'tests/core',
  'tests/cli',
  'tests/redis',
  'tests/bench',
  'tests/adapters/bun.test.ts',
  'tests/adapters/websocket-client.test.ts',
], bunCounts)
run('core tests (deno test)', bin('deno'), [
  'test',
  '-A',
  'tests/core',
  'tests/adapters/deno.test.ts',
], denoCounts)
// The JSR package: what `deno publish` would check (types, slow types, license), offline.
run('JSR package (deno publish --dry-run)', bin('deno'), ['publish', '--dry-run', '--allow-dirty'])
// The Node adapter and its example under plain node (bundled there by the test itself).
run('Node adapter (node --test)', process.execPath, [
  '--test-reporter=tap',
  'tests/adapters/node.test.mjs',
], nodeCounts)
run('examples (bun test tests/examples)', bin('bun'), ['test', 'tests/examples'], bunCounts)
if (run('build dist/jwtgate', 'npm', ['run', '--silent', 'build'])) {
  run(
    'end-to-end tests (bun test, dist/jwtgate and deno run)',
    bin('bun'),
    ['test', 'tests/e2e'],
    bunCounts,
  )
  run('security corpus (bun test, dist/jwtgate and deno run)', bin('bun'), [
    'test',
    'tests/security',
  ], bunCounts)
} else {
  failed += 2
  results.push('end-to-end and security tests: not run, the build failed')
}
// Every platform's executable, cross-compiled here; the linux-x64 one run, the others inspected.
if (run('release dist/release (npm run release)', 'npm', ['run', '--silent', 'release'])) {
  run('release tests (bun test tests/release)', bin('bun'), ['test', 'tests/release'], bunCounts)
} else {
  failed++
  results.push('release tests: not run, the release build failed')
}

process.stdout.write(`\n${results.join('\n')}\n\n`)
process.stdout.write(`${passed} passed, ${failed} failed\n`)
// exitCode, not exit(): a pipe may still hold output, and exit() would drop it (the summary line with it).
process.exitCode = failed === 0 ? 0 : 1
