/** What a reload cannot apply, and says so (reload_needs_restart): the settings bound at start. */
import { expect, test } from 'bun:test'
import type { Host } from '../../src/cli/host.ts'
import {
  DUPLICATE_SIGNAL_MS,
  firstSignal,
  keepStartSettings,
  restartOnly,
} from '../../src/cli/serve.ts'
import { loadConfig } from '../../src/core/config/load.ts'

const BASE = {
  JWTGATE_UPSTREAM: 'http://127.0.0.1:9',
  JWTGATE_SECRET: 'a-secret-of-at-least-32-bytes-long-0123',
  JWTGATE_ADMIN_PORT: '9090',
  JWTGATE_ADMIN_TOKEN: 'admin-token-0123456789abcdef0123456789',
}

test('restartOnly(): each setting bound at start is named; what a reload applies is not', async () => {
  const running = await loadConfig(BASE)
  const named = async (change: Record<string, string>) =>
    restartOnly(running, await loadConfig({ ...BASE, ...change }))
  expect(await named({})).toEqual([])
  // Applied by a reload: not named (the admin token, the rules, strictness).
  expect(await named({ JWTGATE_ADMIN_TOKEN: 'another-admin-token-0123456789abcdef' })).toEqual([])
  expect(await named({ JWTGATE_REVOCATIONS_STRICT: 'true' })).toEqual([])
  expect(await named({ JWTGATE_PORT: '9999' })).toEqual(['listen'])
  expect(await named({ JWTGATE_ADMIN_PORT: '9091' })).toEqual(['admin'])
  expect(await named({ JWTGATE_LOG_LEVEL: 'error' })).toEqual(['log'])
  expect(await named({ JWTGATE_WEBSOCKET_MAX_MESSAGE: '2mb' })).toEqual([
    'websockets (server limits)',
  ])
  expect(await named({ JWTGATE_REVOCATIONS_FILE: '/tmp/revoked.jsonl' })).toEqual([
    'revocations.file',
  ])
  expect(await named({ JWTGATE_WORKERS: '3', JWTGATE_REDIS_URL: 'redis://127.0.0.1:6379' }))
    .toEqual(['workers', 'redis'])
  // The list's size is fixed when it is made: named, not silently kept.
  expect(await named({ JWTGATE_REVOCATIONS_FILE: '/tmp/r.jsonl' })).toEqual(['revocations.file'])
  const fileWith = (entries: number) =>
    loadConfig({ JWTGATE_CONFIG: '/c.yaml' }, {
      readFile: () =>
        `providers: { main: { secret: "${BASE.JWTGATE_SECRET}" } }\nupstreams: { api: { url: "http://127.0.0.1:9" } }\nroutes: [{ name: all, path: "/*", upstream: api }]\nrevocations: { file: /tmp/r.jsonl, maxEntries: ${entries} }\n`,
    })
  const withFile = await fileWith(1000)
  const bigger = await fileWith(5000)
  expect(restartOnly(withFile, bigger)).toContain('revocations.maxEntries')
  // Redis: where things are kept refuses a reload (nextConfig), how the connection behaves waits.
  const redis = await loadConfig({ ...BASE, JWTGATE_REDIS_URL: 'redis://127.0.0.1:6379' })
  const slower = await loadConfig({
    ...BASE,
    JWTGATE_REDIS_URL: 'redis://127.0.0.1:6379',
    JWTGATE_REDIS_TIMEOUT: '200ms',
  })
  expect(restartOnly(redis, slower)).toEqual(['redis (timeout, onFailure)'])
})

test('keepStartSettings(): a worker started after a reload keeps every restart-only setting of the start, and takes the rest', async () => {
  const file = (extra: string, route: string) =>
    `providers:\n  main: { secret: "${BASE.JWTGATE_SECRET}" }\nupstreams:\n  api: { url: "http://127.0.0.1:9" }\nroutes:\n  - { name: ${route}, path: "/*", upstream: api }\n${extra}`
  const load = (text: string, env: Record<string, string> = {}) =>
    loadConfig({ JWTGATE_CONFIG: '/c.yaml', ...env }, { readFile: () => text })
  const start = await load(file('', 'first'), {})
  const next = await load(
    file(
      'listen: { host: 0.0.0.0, port: 9999 }\nworkers: 3\nlog: { level: warn, format: pretty }\nwebsockets: { maxMessage: 2mb }\nrevocations: { maxEntries: 5000 }\nwatch: true\n',
      'second',
    ),
  )
  expect(restartOnly(start, next).length).toBeGreaterThan(4)
  const merged = keepStartSettings(next, start)
  expect(restartOnly(start, merged)).toEqual([])
  expect(merged.routes[0]!.name).toBe('second')
})

test('nextConfig(): a reload that moves where revocations are kept is refused; one changing the log level applies, warned', async () => {
  const { nextConfig } = await import('../../src/cli/serve.ts')
  const { createLogger } = await import('../../src/core/log.ts')
  const files: Record<string, string> = {}
  const host = { readFile: (path: string) => files[path] ?? '' } as unknown as Host
  const file = (extra: string) =>
    `providers:\n  main: { secret: "${BASE.JWTGATE_SECRET}" }\nupstreams:\n  api: { url: "http://127.0.0.1:9" }\nroutes:\n  - { name: all, path: "/*", upstream: api }\n${extra}`
  const env = { JWTGATE_CONFIG: '/etc/gw.yaml' }
  files['/etc/gw.yaml'] = file('')
  const running = await loadConfig(env, { readFile: host.readFile })
  const lines: string[] = []
  const logger = createLogger({ level: 'debug', format: 'json', sink: (l) => lines.push(l) })
  const events = () => lines.map((l) => JSON.parse(l))
  files['/etc/gw.yaml'] = file('revocations: { file: /var/lib/jwtgate/revoked.jsonl }\n')
  expect(await nextConfig(host, env, running, logger, 'SIGHUP')).toBeUndefined()
  expect(events().at(-1)).toMatchObject({ event: 'reload_failed', level: 'error' })
  expect(String(events().at(-1)!.problems)).toContain('revocations.file')
  files['/etc/gw.yaml'] = file('log: { level: warn }\n')
  const applied = await nextConfig(host, env, running, logger, 'SIGHUP')
  expect(applied?.config.log.level).toBe('warn')
  expect(events().at(-1)).toMatchObject({ event: 'reload_needs_restart', settings: ['log'] })
})

test('firstSignal(): one stop request delivered twice within 100 ms is one; a later second forces', async () => {
  // A launcher forwarding the signal its process group also delivered (Ctrl-C, systemd).
  let deliver: (name: string) => void = () => {}
  const host = { onSignal: (listener: (name: string) => void) => (deliver = listener) }
  let now = 1000
  const forced: string[] = []
  const first = firstSignal(host as unknown as Host, (name) => forced.push(name), () => now)
  deliver('SIGTERM')
  now += DUPLICATE_SIGNAL_MS - 1
  deliver('SIGTERM') // the same request, again
  expect(await first).toBe('SIGTERM')
  expect(forced).toEqual([])
  now += 1
  deliver('SIGINT') // an operator insisting
  expect(forced).toEqual(['SIGINT'])
})
