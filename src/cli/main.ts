/**
 * @module The command line: argv → serve | check | demo | schema | explain | revoke | --help |
 * --version.
 * Runtime-neutral: the entrypoint passes a Host.
 */
import { type Config, loadConfig } from '../core/config/load.ts'
import { describeConfig } from '../core/config/summary.ts'
import { ConfigError } from '../core/errors.ts'
import { explain, formatExplanation } from '../core/explain.ts'
import { VERSION, versionLine } from '../version.ts'
import { startDemo } from './demo.ts'
import { USAGE } from './help.ts'
import type { Host } from './host.ts'
import { revoke, REVOKE_USAGE, type RevokeFlags } from './revoke.ts'
import { serveOne } from './serve.ts'
import { describeWorkers, workerCount } from './workers/count.ts'
import { runPrimary } from './workers/primary.ts'
import { runWorker, workerRole } from './workers/worker.ts'

const NO_CONFIG = [
  'jwtgate: no configuration found (no JWTGATE_* variables are set).',
  'Set JWTGATE_UPSTREAM and a key source (JWTGATE_SECRET, JWTGATE_PUBLIC_KEY, JWTGATE_JWKS_URL or JWTGATE_OIDC_ISSUER),',
  'or JWTGATE_CONFIG (or --config) for a configuration file; see `jwtgate --help`,',
  'or try `jwtgate demo` for a zero-configuration first run.',
]

interface Args {
  readonly command: string
  readonly positional: string[]
  readonly config?: string
  readonly token?: string
  readonly headers: string[]
  readonly json: boolean
  /** `revoke`'s flags. */
  readonly revoke: RevokeFlags
}

/** `revoke`'s flags, each with a value. */
const REVOKE_FLAGS = ['jti', 'sub', 'issuer', 'iss', 'exp', 'before', 'until'] as const

/** Parses argv; returns a message for an unknown flag or a flag without its value. */
export function parseArgs(argv: readonly string[]): Args | string {
  const positional: string[] = []
  const headers: string[] = []
  let config: string | undefined
  let token: string | undefined
  let json = false
  const revoke: Record<string, string> = {}
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    const value = () => {
      const next = argv[++i]
      if (next === undefined) throw new Error(`${arg} needs a value`)
      return next
    }
    try {
      if (arg === '--config' || arg === '-c') config = value()
      else if (arg.startsWith('--config=')) config = arg.slice(9)
      else if (arg === '--token') token = value()
      else if (arg === '--header' || arg === '-H') headers.push(value())
      else if (arg === '--json') json = true
      else if (REVOKE_FLAGS.some((f) => arg === `--${f}`)) revoke[arg.slice(2)] = value()
      else if (
        arg.startsWith('-') && positional.length > 0 &&
        !['--help', '-h', '--version', '-v'].includes(arg)
        // Only the name: `--token=eyJ…` must not print the token back.
      ) return `unknown option ${arg.split('=')[0]}`
      else positional.push(arg)
    } catch (e) {
      return (e as Error).message
    }
  }
  const [command = 'serve', ...rest] = positional
  return { command, positional: rest, config, token, headers, json, revoke }
}

/** The environment, with `--config` as JWTGATE_CONFIG. */
function environment(host: Host, args: Args): Record<string, string | undefined> {
  return args.config === undefined ? { ...host.env } : { ...host.env, JWTGATE_CONFIG: args.config }
}

/** Loads the configuration, or prints every problem and returns undefined. */
async function configure(
  host: Host,
  env: Record<string, string | undefined>,
): Promise<Config | undefined> {
  if (!Object.keys(env).some((k) => k.startsWith('JWTGATE_') && env[k]?.trim())) {
    for (const line of NO_CONFIG) host.stderr(line)
    return undefined
  }
  try {
    return await loadConfig(env, { readFile: host.readFile })
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e
    for (const issue of e.issues) host.stderr(`${issue.path}: ${issue.message}`)
    return undefined
  }
}

async function check(host: Host, args: Args): Promise<number> {
  const config = await configure(host, environment(host, args))
  if (config === undefined) {
    host.stderr('jwtgate: the configuration is invalid')
    return 1
  }
  host.stdout(`configuration OK (jwtgate ${VERSION})`)
  for (const line of describeConfig(config)) host.stdout(line)
  host.stdout(`workers:  ${describeWorkers(config.workers, host)}`)
  return 0
}

async function serve(host: Host, args: Args): Promise<number> {
  const env = environment(host, args)
  // A worker loads what its primary validated (workers/worker.ts).
  const worker = workerRole(host.env)
  if (worker !== undefined) return runWorker(host, env, worker)
  const config = await configure(host, env)
  if (config === undefined) {
    host.stderr('jwtgate: refusing to start with an invalid configuration')
    return 1
  }
  const count = workerCount(config.workers, host)
  if (typeof count === 'string') {
    host.stderr(`jwtgate: ${count}`)
    return 1
  }
  return count === 1 ? serveOne(host, env, config) : runPrimary(host, env, count)
}

async function demo(host: Host): Promise<number> {
  const run = await startDemo(host)
  await new Promise<string>((resolve) => host.onSignal(resolve))
  await run.stop()
  return 0
}

async function explainCommand(host: Host, args: Args): Promise<number> {
  const [method, target] = args.positional
  if (method === undefined || target === undefined || args.positional.length > 2) {
    host.stderr(
      'usage: jwtgate explain METHOD URL-OR-PATH [--token T | --token - (from stdin) | --header "Name: value"]... [--json] [--config FILE]',
    )
    return 2
  }
  const config = await configure(host, environment(host, args))
  if (config === undefined) return 1
  const headers = new Headers()
  for (const h of args.headers) {
    const colon = h.indexOf(':')
    if (colon <= 0) {
      // Not echoed: a mistyped `Authorization Bearer …` would print the token.
      host.stderr('jwtgate: --header must be "Name: value"')
      return 2
    }
    headers.append(h.slice(0, colon).trim(), h.slice(colon + 1).trim())
  }
  // `--token -` reads it from standard input: out of the shell history and the process list.
  const token = args.token === '-' ? (await new Response(host.stdin()).text()).trim() : args.token
  if (token !== undefined) headers.set('authorization', `Bearer ${token}`)
  const url = /^https?:\/\//.test(target)
    ? target
    : `http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${config.port}${
      target.startsWith('/') ? '' : '/'
    }${target}`
  let request: Request
  try {
    request = new Request(url, { method, headers })
  } catch {
    host.stderr(`jwtgate: cannot build a request for ${method} ${target}`)
    return 2
  }
  const result = await explain(config, request, { fetch: globalThis.fetch })
  host.stdout(args.json ? JSON.stringify(result, null, 2) : formatExplanation(result))
  return result.status < 400 ? 0 : 1
}

/** Runs the command line; resolves with the exit code. */
export async function main(argv: readonly string[], host: Host): Promise<number> {
  const args = parseArgs(argv)
  if (typeof args === 'string') {
    host.stderr(`jwtgate: ${args}; see jwtgate --help`)
    return 2
  }
  const { command } = args
  if (command === '--help' || command === '-h' || command === 'help') {
    host.stdout(USAGE)
    return 0
  }
  if (command === '--version' || command === '-v' || command === 'version') {
    host.stdout(versionLine(host.runtime))
    return 0
  }
  if (command === 'explain') return explainCommand(host, args)
  if (args.positional.length > 0) {
    host.stderr(`jwtgate: unexpected argument ${shown(args.positional[0]!)}; see jwtgate --help`)
    return 2
  }
  if (command === 'serve') return serve(host, args)
  if (command === 'check') return check(host, args)
  if (command === 'demo') return demo(host)
  if (command === 'revoke') {
    const config = await configure(host, environment(host, args))
    if (config === undefined) return 1
    if (Object.keys(args.revoke).length === 0 && args.token === undefined) {
      host.stderr(REVOKE_USAGE)
      return 2
    }
    return revoke(host, config, { ...args.revoke, token: args.token })
  }
  if (command === 'schema') {
    const { jsonSchema } = await import('./schema.ts')
    host.stdout(JSON.stringify(jsonSchema(), null, 2))
    return 0
  }
  host.stderr(`jwtgate: unknown command ${shown(command)}; see jwtgate --help`)
  return 2
}

/**
 * An argument as an error message may quote it: a word as it is, an option by its name only, and
 * anything else not at all — `jwtgate --token=eyJ…` or `jwtgate revoke eyJ…` (a forgotten
 * `--token`) must not print the token back to a terminal or a CI log.
 */
function shown(arg: string): string {
  if (/^[a-z][a-z-]{0,30}$/.test(arg)) return JSON.stringify(arg)
  const name = /^--?[A-Za-z][A-Za-z-]{0,30}(?==|$)/.exec(arg)
  return name !== null ? JSON.stringify(name[0]) : '(not shown)'
}
