/**
 * @module The Bun entrypoint (compiled into `dist/jwtgate`): Bun's server, files, signals and
 * fetch behaviour, handed to the runtime-neutral command line.
 */
import { readFileSync, unwatchFile, watchFile } from 'node:fs'
import { main } from './cli/main.ts'
import type { Host } from './cli/host.ts'

const host: Host = {
  runtime: `bun ${Bun.version}`,
  env: process.env,
  readFile: (path) => readFileSync(path, 'utf8'),
  stdout: (line) => void process.stdout.write(`${line}\n`),
  stderr: (line) => void process.stderr.write(`${line}\n`),
  serve(handler, { host: hostname, port, tls, idleTimeoutSec }) {
    const protocol = tls === undefined ? 'http' : 'https'
    // Bun.serve binds synchronously, and throws when it cannot: a rejection, as Host.serve promises.
    let server: ReturnType<typeof Bun.serve>
    try {
      server = Bun.serve({
        hostname,
        port,
        tls,
        // Connections silent this long are closed (main.ts: the stream idle timeout, or the longest
        // upstream timeout). Bun's default, 10 s, would cut a slow upstream or a quiet stream.
        idleTimeout: idleTimeoutSec ?? 0,
        // Bun caps request bodies at 128 MB by default; uploads stream through, so no cap here.
        maxRequestBodySize: Number.MAX_SAFE_INTEGER,
        fetch: (request, srv) =>
          handler(request, { clientAddress: srv.requestIP(request)?.address, protocol }),
      })
    } catch (e) {
      return Promise.reject(e)
    }
    return Promise.resolve({ port: server.port ?? port, stop: (force) => server.stop(force) })
  },
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
  // Bun.serve refuses a larger idleTimeout.
  maxIdleTimeoutSec: 255,
  // Keep the upstream's encoded bytes and their Content-Encoding as they are.
  gatewayDeps: { fetchInit: { decompress: false } },
}

if (import.meta.main) void main(process.argv.slice(2), host).then((code) => process.exit(code))
