/**
 * @module The Deno entrypoint (`deno run -A src/deno.ts`): Deno's server, files, signals and
 * fetch behaviour, handed to the runtime-neutral command line.
 */
import { main } from './cli/main.ts'
import type { Host } from './cli/host.ts'

const encoder = new TextEncoder()

const host: Host = {
  runtime: `deno ${Deno.version.deno}`,
  env: Deno.env.toObject(),
  readFile: (path) => Deno.readTextFileSync(path),
  stdout: (line) => void Deno.stdout.writeSync(encoder.encode(`${line}\n`)),
  stderr: (line) => void Deno.stderr.writeSync(encoder.encode(`${line}\n`)),
  serve(handler, { host: hostname, port, tls }) {
    const protocol = tls === undefined ? 'http' : 'https'
    return new Promise((resolve, reject) => {
      try {
        const abort = new AbortController()
        let shuttingDown = false
        const server = Deno.serve(
          {
            hostname,
            port,
            ...(tls === undefined ? {} : { cert: tls.cert, key: tls.key }),
            signal: abort.signal,
            onListen: (addr) =>
              resolve({
                port: (addr as Deno.NetAddr).port,
                async stop(force) {
                  // After a graceful shutdown has begun the listener is closed: aborting it
                  // again throws; Deno.exit ends the connections that are left.
                  if (force && !shuttingDown) abort.abort()
                  else if (!force) {
                    shuttingDown = true
                    await server.shutdown()
                  }
                  if (!force) await server.finished
                },
              }),
            onError: () => new Response(null, { status: 500 }),
          },
          (request, info) =>
            handler(request, {
              clientAddress: (info.remoteAddr as Deno.NetAddr).hostname,
              protocol,
            }),
        )
      } catch (e) {
        reject(e)
      }
    })
  },
  onSignal(listener) {
    Deno.addSignalListener('SIGINT', () => listener('SIGINT'))
    Deno.addSignalListener('SIGTERM', () => listener('SIGTERM'))
  },
  exit: (code) => Deno.exit(code),
  onReload(listener) {
    Deno.addSignalListener('SIGHUP', listener)
  },
  watchFile(path, listener) {
    // Polling survives editors that replace the file instead of writing it in place.
    const mtime = () => {
      try {
        return Deno.statSync(path).mtime?.getTime() ?? 0
      } catch {
        return 0
      }
    }
    let last = mtime()
    const timer = setInterval(() => {
      const now = mtime()
      if (now !== last) {
        last = now
        listener()
      }
    }, 500)
    return () => clearInterval(timer)
  },
  // Deno's fetch always decodes gzip and br (it has no `decompress: false`).
  gatewayDeps: { decodedEncodings: ['gzip', 'br'] },
}

if (import.meta.main) Deno.exit(await main(Deno.args, host))
