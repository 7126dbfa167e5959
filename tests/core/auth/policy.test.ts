import assert from 'node:assert/strict'
import { claimPath } from '../../../src/core/auth/claims.ts'
import { checkPolicy, tokenScopes, type Policy } from '../../../src/core/auth/policy.ts'
import { ForbiddenError } from '../../../src/core/errors.ts'
import { test } from '../../helpers/t.ts'

const policy = (p: Partial<Policy>): Policy => ({ requiredScopes: [], requiredRoles: [], rolesClaim: claimPath('roles'), ...p })

function denied(claims: Record<string, unknown>, p: Policy): string {
  try {
    checkPolicy(claims, p)
    return 'allowed'
  } catch (e) {
    assert.ok(e instanceof ForbiddenError)
    assert.equal(e.status, 403)
    return e.code
  }
}

test('tokenScopes() reads a scope string or an scp array', () => {
  assert.deepEqual(tokenScopes({ scope: 'a  b c' }), ['a', 'b', 'c'])
  assert.deepEqual(tokenScopes({ scp: ['a', 'b'] }), ['a', 'b'])
  assert.deepEqual(tokenScopes({ scp: 'a b' }), ['a', 'b'])
  assert.deepEqual(tokenScopes({ scope: 42 }), [])
})

test('checkPolicy() requires every scope, matched exactly', () => {
  const p = policy({ requiredScopes: ['orders:read', 'orders:write'] })
  assert.equal(denied({ scope: 'orders:read orders:write' }, p), 'allowed')
  assert.equal(denied({ scp: ['orders:write', 'orders:read', 'x'] }, p), 'allowed')
  assert.equal(denied({ scope: 'orders:read' }, p), 'insufficient_scope')
  assert.equal(denied({ scope: 'orders:read orders:writer' }, p), 'insufficient_scope')
  assert.equal(denied({ scope: 'orders:read,orders:write' }, p), 'insufficient_scope')
  assert.equal(denied({}, p), 'insufficient_scope')
  assert.equal(denied({ scope: { a: 1 } }, p), 'insufficient_scope')
})

test('checkPolicy() names the required scopes on the error', () => {
  try {
    checkPolicy({}, policy({ requiredScopes: ['a', 'b'] }))
    assert.fail()
  } catch (e) {
    assert.deepEqual((e as ForbiddenError).scopes, ['a', 'b'])
  }
})

test('checkPolicy() requires any one role from the roles claim path', () => {
  const p = policy({ requiredRoles: ['admin', 'ops'], rolesClaim: claimPath('realm_access.roles') })
  assert.equal(denied({ realm_access: { roles: ['user', 'ops'] } }, p), 'allowed')
  assert.equal(denied({ realm_access: { roles: ['user'] } }, p), 'insufficient_role')
  assert.equal(denied({ realm_access: { roles: ['administrator'] } }, p), 'insufficient_role')
  assert.equal(denied({ realm_access: { roles: [{ name: 'admin' }] } }, p), 'insufficient_role')
  assert.equal(denied({ realm_access: 'admin' }, p), 'insufficient_role')
  assert.equal(denied({ roles: ['admin'] }, p), 'insufficient_role')
})

test('checkPolicy() allows everything when nothing is required', () => {
  assert.equal(denied({}, policy({})), 'allowed')
})
