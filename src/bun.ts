/**
 * @module The Bun entrypoint (compiled into `dist/jwtgate`): Bun's server (the adapter embedders
 * use too: adapters/bun.ts), files and signals, handed to the runtime-neutral command line.
 */
import { readFileSync, unwatchFile, watchFile } from 'node:fs'
import { MAX_IDLE_TIMEOUT_SEC, runtimeDeps, serve } from './adapters/bun.ts'
import { main } from './cli/main.ts'
import type { Host } from './cli/host.ts'

const host: Host = {
  runtime: `bun ${Bun.version}`,
  env: process.env,
  readFile: (path) => readFileSync(path, 'utf8'),
  stdout: (line) => void process.stdout.write(`${line}\n`),
  stderr: (line) => void process.stderr.write(`${line}\n`),
  serve: (handler, { host, port, tls, idleTimeoutSec }) =>
    serve(handler, { hostname: host, port, tls, idleTimeoutSec }),
  onSignal(listener) {
    process.on('SIGINT', () => listener('SIGINT'))
    process.on('SIGTERM', () => listener('SIGTERM'))
  },
  exit: (code) => process.exit(code),
  onReload(listener) {
    process.on('SIGHUP', listener)
  },
  watchFile(path, listener) {
    // Polling survives editors that replace the file instead of writing it in place.
    const onChange = (now: { mtimeMs: number }, before: { mtimeMs: number }) =>
      now.mtimeMs !== before.mtimeMs && listener()
    watchFile(path, { interval: 500 }, onChange)
    return () => unwatchFile(path, onChange)
  },
  maxIdleTimeoutSec: MAX_IDLE_TIMEOUT_SEC,
  gatewayDeps: runtimeDeps,
}

if (import.meta.main) void main(process.argv.slice(2), host).then((code) => process.exit(code))
