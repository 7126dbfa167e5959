/**
 * @module The Deno entrypoint (`deno run -A src/deno.ts`): Deno's server (the adapter embedders
 * use too: adapters/deno.ts), files and signals, handed to the runtime-neutral command line.
 */
import { runtimeDeps, serve } from './adapters/deno.ts'
import { main } from './cli/main.ts'
import type { Host } from './cli/host.ts'

const encoder = new TextEncoder()

const host: Host = {
  runtime: `deno ${Deno.version.deno}`,
  env: Deno.env.toObject(),
  readFile: (path) => Deno.readTextFileSync(path),
  stdout: (line) => void Deno.stdout.writeSync(encoder.encode(`${line}\n`)),
  stderr: (line) => void Deno.stderr.writeSync(encoder.encode(`${line}\n`)),
  serve: (handler, { host, port, tls }) => serve(handler, { hostname: host, port, tls }),
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
  gatewayDeps: runtimeDeps,
}

if (import.meta.main) Deno.exit(await main(Deno.args, host))
