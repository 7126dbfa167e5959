import assert from 'node:assert/strict'
import { loadConfig } from '../../../src/core/config/load.ts'
import { ConfigError } from '../../../src/core/errors.ts'
import { test } from '../../helpers/t.ts'

const SECRET = 'k'.repeat(40)

async function problems(env: Record<string, string>, text = ''): Promise<string[]> {
  const err = await loadConfig(env, { readFile: () => text }).catch((e) => e)
  assert.ok(err instanceof ConfigError, String(err))
  return err.issues.map((i) => `${i.path}: ${i.message}`)
}

test('JWTGATE_MODE=auth needs no upstream; proxy mode still does', async () => {
  const config = await loadConfig({
    JWTGATE_MODE: 'auth',
    JWTGATE_SECRET: SECRET,
    JWTGATE_AUTH_CALLERS: '10.0.0.0/8, fd00::/8',
    JWTGATE_AUTH_HEADERS: 'original',
  })
  assert.equal(config.mode, 'auth')
  assert.deepEqual(config.forwardAuth, {
    path: undefined,
    callers: ['10.0.0.0/8', 'fd00::/8'],
    headers: 'original',
  })
  assert.match(
    (await problems({ JWTGATE_SECRET: SECRET })).join('\n'),
    /^JWTGATE_UPSTREAM: is required/,
  )
})

test('mode: auth in the file: routes without upstreams; forwardAuth settings; a variable wins', async () => {
  const text = `
mode: auth
forwardAuth: { path: /ext_authz, callers: [192.0.2.0/24], headers: forwarded }
providers: { main: { secret: "${SECRET}" } }
routes: [{ path: /orders/*, claimHeaders: { sub: X-User-Id } }]
`
  const config = await loadConfig({ JWTGATE_CONFIG: '/c.yaml' }, { readFile: () => text })
  assert.equal(config.mode, 'auth')
  assert.deepEqual(config.forwardAuth, {
    path: '/ext_authz',
    callers: ['192.0.2.0/24'],
    headers: 'forwarded',
  })
  assert.equal(config.routes[0]!.upstream, '')
  // JWTGATE_MODE=proxy over the file: the route then needs its upstream.
  const proxy = await problems({ JWTGATE_CONFIG: '/c.yaml', JWTGATE_MODE: 'proxy' }, text)
  assert.match(proxy.join('\n'), /routes\[0\]\.upstream/)
})

test('forward-auth values: each problem at its place', async () => {
  assert.deepEqual(
    await problems({
      JWTGATE_MODE: 'gateway',
      JWTGATE_SECRET: SECRET,
      JWTGATE_UPSTREAM: 'http://a',
      JWTGATE_AUTH_PATH: 'auth',
      JWTGATE_AUTH_CALLERS: '10.0.0.0/8,10.0.0.0/40',
      JWTGATE_AUTH_HEADERS: 'both',
    }),
    [
      'JWTGATE_MODE: must be proxy or auth',
      'JWTGATE_AUTH_PATH: must be a path such as /auth or /ext_authz (letters, digits and - . _ ~ / only)',
      'JWTGATE_AUTH_CALLERS: "10.0.0.0/40" is not an address or CIDR range (10.0.0.0/8, fd00::/8, 192.0.2.7)',
      'JWTGATE_AUTH_HEADERS: must be original, forwarded or path',
    ],
  )
  assert.deepEqual(
    await problems({
      JWTGATE_SECRET: SECRET,
      JWTGATE_UPSTREAM: 'http://a',
      JWTGATE_AUTH_PATH: '/a/../b',
    }),
    ['JWTGATE_AUTH_PATH: must be a plain path, without // or dot segments'],
  )
  // A range with bits past its prefix: `::ffff:10.0.0.0/8` would be an IPv6 /8 holding every
  // IPv4 address, not 10.0.0.0/8.
  for (const range of ['::ffff:10.0.0.0/8', '10.0.0.1/8', 'fd00::1/8']) {
    assert.deepEqual(
      await problems({
        JWTGATE_SECRET: SECRET,
        JWTGATE_UPSTREAM: 'http://a',
        JWTGATE_AUTH_PATH: '/auth',
        JWTGATE_AUTH_CALLERS: range,
      }),
      [
        `JWTGATE_AUTH_CALLERS: "${range}" has address bits set past its prefix: write the network it means (10.0.0.0/8, ::ffff:10.0.0.0/104)`,
      ],
      range,
    )
  }
  for (const range of ['::ffff:10.0.0.0/104', '10.0.0.0/8', '192.0.2.7', 'fd00::/8']) {
    await loadConfig({
      JWTGATE_SECRET: SECRET,
      JWTGATE_UPSTREAM: 'http://a',
      JWTGATE_AUTH_PATH: '/auth',
      JWTGATE_AUTH_CALLERS: range,
    })
  }
})
