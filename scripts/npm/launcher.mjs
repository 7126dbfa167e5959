#!/usr/bin/env node
// jwtgate's command from npm: runs the executable of the per-platform package npm installed
// beside this one (an optional dependency chosen by its os, cpu and libc fields; no install
// script), as esbuild and Biome do — only one of this very version (resolution also looks
// further up the tree and on NODE_PATH). Signals and the exit code pass through: a child ended
// by a signal ends this process by the same signal.
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const os = { linux: 'linux', darwin: 'darwin', win32: 'windows' }[process.platform]
const arch = { x64: 'x64', arm64: 'arm64' }[process.arch]
const musl = process.platform === 'linux' &&
  !process.report?.getReport?.().header?.glibcVersionRuntime
const target = os && arch ? `${os}-${arch}${musl ? '-musl' : ''}` : undefined
const name = `@jwtgate/cli-${target}`
/** This package's version (bin/../package.json): the executable's package must have the same. */
const version = JSON.parse(
  readFileSync(join(dirname(dirname(fileURLToPath(import.meta.url))), 'package.json'), 'utf8'),
).version
let executable
try {
  if (target === undefined) throw new Error('unsupported')
  // Resolution walks up the tree and reads NODE_PATH: whatever it finds must be this version's
  // package, or a stray copy (another project's, an old one) would run in its place.
  const manifest = createRequire(import.meta.url).resolve(`${name}/package.json`)
  const found = JSON.parse(readFileSync(manifest, 'utf8'))
  if (found.name !== name || found.version !== version) {
    process.stderr.write(
      `jwtgate: ${manifest} is ${found.name}@${found.version}, not ${name}@${version}: ` +
        `reinstall jwtgate\n`,
    )
    process.exit(1)
  }
  executable = join(dirname(manifest), os === 'windows' ? 'jwtgate.exe' : 'jwtgate')
} catch {
  process.stderr.write(
    `jwtgate: no executable for ${process.platform}-${process.arch}${musl ? ' (musl)' : ''}: ` +
      `${name} is not installed (was the install run with --omit=optional or --no-optional?)\n`,
  )
  process.exit(1)
}
const child = spawn(executable, process.argv.slice(2), { stdio: 'inherit' })
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => child.kill(signal))
}
child.on('exit', (code, signal) => {
  if (signal === null) process.exit(code ?? 1)
  // Ended by a signal: so ends this process (a supervisor sees it), not by a handler of ours.
  process.removeAllListeners(signal)
  process.kill(process.pid, signal)
})
