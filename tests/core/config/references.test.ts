import assert from 'node:assert/strict'
import { loadConfig } from '../../../src/core/config/load.ts'
import { referenceIssues, routeReferenceIssues } from '../../../src/core/config/references.ts'
import { ConfigError } from '../../../src/core/errors.ts'
import { test } from '../../helpers/t.ts'

test('routeReferenceIssues() names an unknown upstream and each unknown provider', () => {
  assert.deepEqual(
    routeReferenceIssues(
      { upstream: 'nope', providers: ['a', 'ghost', 'b'] },
      'routes[4]',
      ['api'],
      ['a', 'b'],
    ),
    [
      { path: 'routes[4].upstream', message: 'unknown upstream "nope"' },
      { path: 'routes[4].providers[1]', message: 'unknown provider "ghost"' },
    ],
  )
  assert.deepEqual(routeReferenceIssues({ upstream: 'api' }, 'routes[0]', ['api'], []), [])
})

test('referenceIssues() reads a raw value that failed validation, skipping what is not a name', () => {
  assert.deepEqual(referenceIssues(null), [])
  assert.deepEqual(referenceIssues({ routes: 'x' }), [])
  assert.deepEqual(
    referenceIssues({
      upstreams: { api: {} },
      providers: { main: {} },
      routes: [
        'not a route',
        { upstream: 'api', providers: ['main'] },
        { upstream: 3, providers: [3, 'zz'] },
        { upstream: 'gone' },
      ],
    }),
    [
      { path: 'routes[2].providers[1]', message: 'unknown provider "zz"' },
      { path: 'routes[3].upstream', message: 'unknown upstream "gone"' },
    ],
  )
})

async function problems(text: string): Promise<string[]> {
  const err = await loadConfig({ JWTGATE_CONFIG: '/c.yaml' }, { readFile: () => text }).catch((
    e,
  ) => e)
  assert.ok(err instanceof ConfigError, String(err))
  return err.issues.map((i) => `${i.path}: ${i.message}`)
}

test('a valid file and one with a schema problem report unknown references alike', async () => {
  const file = (extra: string) => `
providers: { main: { issuer: https://i, secret: "${'k'.repeat(40)}" } }
upstreams: { api: { url: "http://a" } }
routes:
  - { path: /a, upstream: api${extra} }
  - { path: /b, upstream: constructor, providers: [main, toString] }
`
  const expected = [
    'routes[1].upstream: unknown upstream "constructor"',
    'routes[1].providers[1]: unknown provider "toString"',
  ]
  assert.deepEqual(await problems(file('')), expected)
  assert.deepEqual(await problems(file(', pathh: /x')), [
    'routes[0].pathh: unknown key',
    ...expected,
  ])
})
