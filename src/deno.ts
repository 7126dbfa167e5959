/**
 * @module The Deno entrypoint (`deno run -A src/deno.ts`): Deno's server (the adapter embedders
 * use too: adapters/deno.ts), files and signals, handed to the runtime-neutral command line.
 */
import { runtimeDeps, serve } from './adapters/deno.ts'
import { main } from './cli/main.ts'
import type { Host } from './cli/host.ts'
import { checkReadable, utf8Text } from './core/config/secrets.ts'

const encoder = new TextEncoder()

/** The reader of stdout went away (a broken pipe): lines are dropped from then on. */
let stdoutGone = false

/**
 * Writes all of `bytes` to stdout (one writeSync may take only part of them); once its reader is
 * gone (`jwtgate | head`, a worker whose primary died), nothing — never an error into the request
 * that logged, or into a drain.
 */
function writeAll(bytes: Uint8Array): void {
  if (stdoutGone) return
  try {
    for (let at = 0; at < bytes.length;) at += Deno.stdout.writeSync(bytes.subarray(at))
  } catch (e) {
    // Its reader gone: from now on. Any other failure costs this line only.
    if (e instanceof Deno.errors.BrokenPipe) stdoutGone = true
  }
}

const host: Host = {
  runtime: `deno ${Deno.version.deno}`,
  env: Deno.env.toObject(),
  readFile(path) {
    checkReadable(Deno.statSync(path))
    return utf8Text(Deno.readFileSync(path))
  },
  appendFile: (path, text) => Deno.writeTextFileSync(path, text, { append: true }),
  networks() {
    try {
      return Deno.networkInterfaces().map((n) => ({ address: n.address, cidr: n.cidr }))
    } catch {
      // Without --allow-sys: loopback alone may ask for checks (JWTGATE_AUTH_CALLERS widens it).
      return []
    }
  },
  stdout: (line) => writeAll(encoder.encode(`${line}\n`)),
  stderr(line) {
    try {
      Deno.stderr.writeSync(encoder.encode(`${line}\n`))
    } catch {
      // Its reader gone (a worker whose primary was killed): the line is dropped, never thrown
      // into the request or message that wrote it.
    }
  },
  serve: (servable, { host, port, tls, reusePort }) =>
    serve(servable, { hostname: host, port, tls, reusePort }),
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
    // Two writes within one mtime tick still differ in size (appended revocations).
    const mtime = () => {
      try {
        const stat = Deno.statSync(path)
        return `${stat.mtime?.getTime() ?? 0}:${stat.size}`
      } catch {
        return ''
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
  platform: Deno.build.os,
  pid: Deno.pid,
  cpuCount: () => navigator.hardwareConcurrency,
  // Measured: a Deno worker is bound by its JavaScript thread (two on two cores: ~1.7 x one).
  coresPerWorker: 1,
  stdin: () => Deno.stdin.readable,
  spawnWorker(env) {
    const child = new Deno.Command(Deno.execPath(), {
      // SO_REUSEPORT is still behind --unstable-net in Deno 2 (Deno.serve's `reusePort`).
      args: ['run', '--unstable-net', ...grantedPermissions(), Deno.mainModule, ...Deno.args],
      env,
      stdin: 'piped',
      stdout: 'piped',
      stderr: 'piped',
    }).spawn()
    const writer = child.stdin.getWriter()
    return {
      pid: child.pid,
      write(text) {
        writer.write(encoder.encode(text)).catch(() => {})
      },
      stderr: child.stderr,
      stdout: child.stdout,
      exited: child.status.then((status) => ({
        code: status.signal === null ? status.code : null,
        signal: status.signal,
      })),
      kill: (signal) => {
        try {
          child.kill(signal)
        } catch {
          // already gone
        }
      },
    }
  },
}

/**
 * The permission flags of this process, for its workers: each permission granted in full is
 * passed on. A permission granted only in part (`--allow-read=/etc`) cannot be read back, so
 * workers need them in full (`-A`): said, rather than started without.
 */
function grantedPermissions(): string[] {
  const names = ['read', 'write', 'net', 'env', 'sys', 'run', 'ffi', 'import'] as const
  const flags: string[] = []
  for (const name of names) {
    const status = Deno.permissions.querySync({ name } as Deno.PermissionDescriptor)
    // `partial`: granted with exceptions (`-A --deny-net=…`) that a plain flag would drop.
    if (status.state === 'granted' && !status.partial) flags.push(`--allow-${name}`)
    else if (name === 'read' || name === 'net' || name === 'env' || status.partial) {
      throw new Error(
        `workers under Deno need --allow-${name} in full, without --deny-${name} (or -A): they run as \`deno run\` with this process's permissions; or set JWTGATE_WORKERS=1`,
      )
    }
  }
  return ['--no-prompt', ...flags]
}

if (import.meta.main) Deno.exit(await main(Deno.args, host))
