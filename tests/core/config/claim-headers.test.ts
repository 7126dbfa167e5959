import assert from 'node:assert/strict'
import { claimHeadersFromFile, parseClaimHeaders } from '../../../src/core/config/claim-headers.ts'
import type { ConfigIssue } from '../../../src/core/errors.ts'
import { test } from '../../helpers/t.ts'

const pairs = (out: ReturnType<typeof parseClaimHeaders>) =>
  typeof out === 'string' ? out : out.map((h) => [h.claim.raw, h.header])

test('parseClaimHeaders() reads claim=Header pairs; headers lower-cased, claims as paths', () => {
  assert.deepEqual(pairs(parseClaimHeaders('sub=X-User-Id, realm_access.roles=X-Roles')), [
    ['sub', 'x-user-id'],
    ['realm_access.roles', 'x-roles'],
  ])
  assert.deepEqual(pairs(parseClaimHeaders('https://example.com/t=X-T')), [
    ['https://example.com/t', 'x-t'],
  ])
  assert.equal(parseClaimHeaders(' , '), 'expected at least one claim=Header-Name pair')
  assert.equal(parseClaimHeaders('sub'), 'each item must be claim=Header-Name (got "sub")')
  assert.equal(parseClaimHeaders('sub='), 'each item must be claim=Header-Name (got "sub=")')
})

test('a claim header writes its value as text by default, as JSON when asked (`:json`, `as: json`)', () => {
  const out = parseClaimHeaders('sub=X-User-Id,groups=X-Groups:json,roles=X-Roles:JSON')
  assert.ok(typeof out !== 'string')
  assert.deepEqual(out.map((h) => [h.claim.raw, h.header, h.as]), [
    ['sub', 'x-user-id', 'text'],
    ['groups', 'x-groups', 'json'],
    ['roles', 'x-roles', 'json'],
  ])
  assert.equal(parseClaimHeaders('groups=:json'), '"" is not a valid header name')
  assert.equal(parseClaimHeaders('groups=X-G:xml'), '"X-G:xml" is not a valid header name')
  const issues: ConfigIssue[] = []
  const file = claimHeadersFromFile(
    { sub: 'X-User', groups: { header: 'X-Groups', as: 'json' }, email: { header: 'X-Email' } },
    'routes[0]',
    issues,
  )
  assert.deepEqual(issues, [])
  assert.deepEqual(file.map((h) => [h.claim.raw, h.header, h.as]), [
    ['sub', 'x-user', 'text'],
    ['groups', 'x-groups', 'json'],
    ['email', 'x-email', 'text'],
  ])
})

test('parseClaimHeaders() says the first problem, in order', () => {
  assert.equal(parseClaimHeaders('sub=X A'), '"X A" is not a valid header name')
  assert.equal(parseClaimHeaders('sub=Host,email=X A'), 'Host is reserved and cannot carry a claim')
  assert.equal(parseClaimHeaders('sub=X-A,email=x-a'), 'header x-a is mapped twice')
})

test('the environment and the file refuse the same headers with the same messages', () => {
  const refused = [
    'Host',
    'Authorization',
    'Cookie',
    'Content-Type',
    'Connection',
    'X-Forwarded-For',
  ]
  for (const header of refused) {
    const issues: ConfigIssue[] = []
    claimHeadersFromFile({ sub: header }, 'routes[0]', issues)
    const fromEnv = parseClaimHeaders(`sub=${header}`)
    assert.equal(fromEnv, `${header} is reserved and cannot carry a claim`)
    assert.deepEqual(issues, [{ path: 'routes[0].claimHeaders.sub', message: fromEnv }])
  }
})

test('claimHeadersFromFile() reports every problem at its claim, and compiles the rest', () => {
  const issues: ConfigIssue[] = []
  const headers = claimHeadersFromFile(
    { sub: 'X-User', name: 'x-user', email: 'Host', tenant: 'X-Tenant' },
    'routes[1]',
    issues,
  )
  assert.deepEqual(headers.map((h) => [h.claim.raw, h.header]), [
    ['sub', 'x-user'],
    ['name', 'x-user'],
    ['email', 'host'],
    ['tenant', 'x-tenant'],
  ])
  assert.deepEqual(issues, [
    { path: 'routes[1].claimHeaders.name', message: 'header x-user is mapped twice' },
    { path: 'routes[1].claimHeaders.email', message: 'Host is reserved and cannot carry a claim' },
  ])
})
