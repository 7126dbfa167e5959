/**
 * @module The command line: argv → serve | check | demo | --help | --version. Runtime-neutral:
 * the entrypoint passes a Host.
 */
import { loadConfig, type Config } from '../core/config/load.ts'
import { describeKeySources, describePolicy, summaryFields } from '../core/config/summary.ts'
import { ConfigError } from '../core/errors.ts'
import { createGateway } from '../core/gateway.ts'
import { createLogger, formatLine } from '../core/log.ts'
import { VERSION } from '../version.ts'
import { startDemo } from './demo.ts'
import { USAGE } from './help.ts'
import type { Host } from './host.ts'

const NO_CONFIG = [
  'jwtgate: no configuration found (no JWTGATE_* variables are set).',
  'Set JWTGATE_UPSTREAM and a key source (JWTGATE_SECRET, JWTGATE_PUBLIC_KEY, JWTGATE_JWKS_URL or JWTGATE_OIDC_ISSUER),',
  'see `jwtgate --help`, or try `jwtgate demo` for a zero-configuration first run.',
]

/** Loads the configuration, or prints every problem and returns undefined. */
async function configure(host: Host): Promise<Config | undefined> {
  if (!Object.keys(host.env).some((k) => k.startsWith('JWTGATE_') && host.env[k]?.trim())) {
    for (const line of NO_CONFIG) host.stderr(line)
    return undefined
  }
  try {
    return await loadConfig(host.env, { readFile: host.readFile })
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e
    for (const issue of e.issues) host.stderr(`${issue.path}: ${issue.message}`)
    return undefined
  }
}

async function check(host: Host): Promise<number> {
  const config = await configure(host)
  if (config === undefined) {
    host.stderr('jwtgate: the configuration is invalid')
    return 1
  }
  host.stdout(`configuration OK (jwtgate ${VERSION})`)
  host.stdout(`listen:   ${config.host}:${config.port}`)
  host.stdout(`upstream: ${config.upstream.url} (timeout ${config.upstream.timeoutMs} ms)`)
  host.stdout(`keys:     ${describeKeySources(config)}`)
  host.stdout(`policy:   ${describePolicy(config)}`)
  return 0
}

function waitForSignal(host: Host): Promise<string> {
  return new Promise((resolve) => host.onSignal(resolve))
}

async function serve(host: Host): Promise<number> {
  const config = await configure(host)
  if (config === undefined) {
    host.stderr('jwtgate: refusing to start with an invalid configuration')
    return 1
  }
  const logger = createLogger({ level: config.log.level, format: config.log.format, sink: host.stdout })
  const gateway = createGateway(config, { ...host.gatewayDeps, logger })
  let server
  try {
    server = await host.serve(gateway.fetch, { host: config.host, port: config.port })
  } catch (e) {
    gateway.close()
    host.stderr(`jwtgate: cannot listen on ${config.host}:${config.port}: ${e instanceof Error ? e.message : String(e)}`)
    return 1
  }
  // Always printed, whatever the log level: the one start-up line.
  host.stdout(
    formatLine(config.log.format, Date.now(), 'info', 'start', {
      version: VERSION,
      runtime: host.runtime,
      listen: `${config.host}:${server.port}`,
      ...summaryFields(config),
    }),
  )
  const signal = await waitForSignal(host)
  logger.log('info', 'shutdown', { signal })
  gateway.close()
  await server.stop()
  return 0
}

async function demo(host: Host): Promise<number> {
  const run = await startDemo(host)
  await waitForSignal(host)
  await run.stop()
  return 0
}

/** Runs the command line; resolves with the exit code. */
export async function main(argv: readonly string[], host: Host): Promise<number> {
  const [command = 'serve', ...rest] = argv
  if (command === '--help' || command === '-h' || command === 'help') {
    host.stdout(USAGE)
    return 0
  }
  if (command === '--version' || command === '-v' || command === 'version') {
    host.stdout(`jwtgate ${VERSION}`)
    return 0
  }
  if (rest.length > 0) {
    host.stderr(`jwtgate: unexpected argument ${JSON.stringify(rest[0])}; see jwtgate --help`)
    return 2
  }
  if (command === 'serve') return serve(host)
  if (command === 'check') return check(host)
  if (command === 'demo') return demo(host)
  host.stderr(`jwtgate: unknown command ${JSON.stringify(command)}; see jwtgate --help`)
  return 2
}
