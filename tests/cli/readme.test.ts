import { expect, test } from 'bun:test'
import { readdirSync, readFileSync } from 'node:fs'
import { basename, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { loadConfig } from '../../src/core/config/load.ts'
import { describeConfig } from '../../src/core/config/summary.ts'
import { secret } from '../helpers/keys.ts'

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')

test('the README configuration file example is valid and says what the text says', async () => {
  const yaml = /```yaml\n([\s\S]+?)```/.exec(readme)?.[1]
  expect(yaml).toBeDefined()
  const partnerSecret = secret(32).config
  const config = await loadConfig({
    JWTGATE_CONFIG: '/jwtgate.yaml',
    PARTNER_HS256_SECRET: partnerSecret,
    REDIS_URL: 'redis://:redis-password@cache:6379',
    ADMIN_TOKEN: 'a'.repeat(64),
  }, { readFile: () => yaml! })
  expect(config.routes.map((r) => r.name)).toEqual([
    'docs',
    'read-order',
    'delete-order',
    'tenant-data',
    'files',
    'legacy-items',
    'live',
  ])
  expect(config.routes[0]!.auth).toBe('public')
  // WebSockets: on the routes that authenticate, and where a route says so.
  expect(config.routes.filter((r) => r.websockets).map((r) => r.name)).toEqual([
    'read-order',
    'delete-order',
    'tenant-data',
    'files',
    'legacy-items',
    'live',
  ])
  expect(config.websockets.maxMessageBytes).toBe(256 * 1024)
  expect(config.websockets.idleTimeoutSec).toBe(60)
  expect(config.routes[1]!.require.scopesAll).toEqual(['orders:read'])
  expect(config.routes[2]!.require.rolesAny).toEqual(['admin'])
  expect(config.routes[3]!.require.claims.length).toBe(2)
  expect(config.warnings).toEqual([])
  expect(config.rateLimits.map((l) => l.name)).toEqual([
    'per-user',
    'per-tenant',
    'partner-apps',
    'anonymous-files',
  ])
  expect(config.rateLimits[0]!.burst).toBe(20)
  expect(config.redis?.onFailure).toBe('local')
  const described = describeConfig(config).join('\n')
  expect(described).not.toContain(partnerSecret.slice(7))
  expect(described).toContain('store:    redis://cache:6379')
  expect(described).not.toContain('redis-password')
  expect(described).not.toContain('a'.repeat(64))
})

test('every JWTGATE_ variable the code reads is in the README', async () => {
  const { VARIABLES } = await import('../../src/core/config/schema.ts')
  for (const variable of VARIABLES) expect(readme).toContain(variable)
})

test("the README's Layout names every source file", () => {
  const layout = /## Layout\n([\s\S]+?)\n## /.exec(`${readme}\n## `)?.[1] ?? ''
  const files: string[] = []
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name)
      if (entry.isDirectory()) walk(path)
      else if (entry.name.endsWith('.ts')) files.push(path)
    }
  }
  walk(fileURLToPath(new URL('../../src', import.meta.url)))
  expect(files.length).toBeGreaterThan(40)
  const missing = files.map((f) => basename(f)).filter((name) => !layout.includes(name))
  expect(missing).toEqual([])
})
