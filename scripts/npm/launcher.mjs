#!/usr/bin/env node
// jwtgate's command from npm: runs the executable of the per-platform package npm installed
// beside this one (an optional dependency chosen by its os, cpu and libc fields; no install
// script), as esbuild and Biome do. Signals and the exit code pass through.
import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'

const os = { linux: 'linux', darwin: 'darwin', win32: 'windows' }[process.platform]
const arch = { x64: 'x64', arm64: 'arm64' }[process.arch]
const musl = process.platform === 'linux' &&
  !process.report?.getReport?.().header?.glibcVersionRuntime
const target = os && arch ? `${os}-${arch}${musl ? '-musl' : ''}` : undefined
const name = `@jwtgate/cli-${target}`
let executable
try {
  if (target === undefined) throw new Error('unsupported')
  const manifest = createRequire(import.meta.url).resolve(`${name}/package.json`)
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
  if (signal !== null) process.kill(process.pid, signal)
  else process.exit(code ?? 1)
})
