#!/usr/bin/env node
// Builds jwtgate's standalone executables with `bun build --compile`, stamping the version's
// commit and target into them (src/version.ts).
//   node scripts/build.mjs             dist/jwtgate for this machine (npm run build)
//   node scripts/build.mjs --release   dist/release/jwtgate-<target>[.exe] for every target people
//                                      run servers and laptops on, and dist/release/SHA256SUMS
//                                      (npm run release; cross-compiled here, on one Linux host),
//                                      then the npm packages (scripts/npm/package.mjs)
// Bun fetches each target's runtime from the npm registry the first time (then from its cache).
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { createReadStream, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { buildPackages } from './npm/package.mjs'

const root = fileURLToPath(new URL('..', import.meta.url))
const bun = join(root, 'node_modules', '.bin', 'bun')

/** Every release target: `bun build --compile --target=bun-<name>`. */
export const TARGETS = [
  'linux-x64',
  'linux-arm64',
  'linux-x64-musl',
  'linux-arm64-musl',
  'darwin-x64',
  'darwin-arm64',
  'windows-x64',
]

/** The same flags for every executable (see package.json's history for why each is there). */
const FLAGS = [
  'build',
  '--compile',
  '--minify',
  '--bytecode',
  '--no-compile-autoload-dotenv',
  '--no-compile-autoload-bunfig',
  '--sourcemap=none',
  '--compile-exec-argv=--smol',
]

/** The commit being built (with `-dirty` when the work tree has changes), or `unknown`. */
function commit() {
  try {
    const git = (...args) => execFileSync('git', ['-C', root, ...args], { encoding: 'utf8' }).trim()
    const head = git('rev-parse', '--short=12', 'HEAD')
    return git('status', '--porcelain', '--untracked-files=no') === '' ? head : `${head}-dirty`
  } catch {
    return 'unknown'
  }
}

/** This machine's target (musl when the C library is musl). */
function hostTarget() {
  const os = { linux: 'linux', darwin: 'darwin', win32: 'windows' }[process.platform]
  const arch = { x64: 'x64', arm64: 'arm64' }[process.arch]
  if (os === undefined || arch === undefined) {
    throw new Error(`no Bun target for ${process.platform}-${process.arch}`)
  }
  const musl = os === 'linux' && !process.report?.getReport?.().header?.glibcVersionRuntime
  return `${os}-${arch}${musl ? '-musl' : ''}`
}

function compile(target, outfile, stamp, host) {
  const defines = [
    '--define',
    `JWTGATE_COMMIT=${JSON.stringify(stamp)}`,
    '--define',
    `JWTGATE_TARGET=${JSON.stringify(`bun-${target}`)}`,
  ]
  const cross = host ? [] : [`--target=bun-${target}`]
  execFileSync(bun, [...FLAGS, ...cross, ...defines, 'src/bun.ts', '--outfile', outfile], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'inherit'],
  })
}

function sha256(path) {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256')
    createReadStream(path).on('data', (d) => hash.update(d)).on('error', reject).on(
      'end',
      () => resolve(hash.digest('hex')),
    )
  })
}

const stamp = commit()
if (process.argv.includes('--release')) {
  const dir = join(root, 'dist', 'release')
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true })
  const lines = []
  for (const target of TARGETS) {
    const name = `jwtgate-${target}${target.startsWith('windows') ? '.exe' : ''}`
    compile(target, join(dir, name), stamp, false)
    lines.push(`${await sha256(join(dir, name))}  ${name}`)
    process.stdout.write(`dist/release/${name}\n`)
  }
  // The npm tarballs too: what `npm install` of a downloaded tarball runs is checked as the
  // executables are (`sha256sum -c SHA256SUMS` in dist/release).
  const tarballs = buildPackages(TARGETS)
  for (const tarball of tarballs) {
    lines.push(`${await sha256(tarball)}  ${relative(dir, tarball)}`)
    process.stdout.write(`${tarball.slice(root.length)}\n`)
  }
  writeFileSync(join(dir, 'SHA256SUMS'), `${lines.join('\n')}\n`)
  process.stdout.write(
    `dist/release/SHA256SUMS (${TARGETS.length} executables, ${tarballs.length} npm tarballs, ` +
      `commit ${stamp})\n`,
  )
} else {
  if (!existsSync(join(root, 'dist'))) mkdirSync(join(root, 'dist'))
  compile(hostTarget(), join(root, 'dist', 'jwtgate'), stamp, true)
}
