import assert from 'node:assert/strict'
import { claimPath } from '../../../src/core/auth/claims.ts'
import {
  checkRequirements,
  compileCondition,
  compileRequirements,
  describeRequirements,
  evaluate,
  NO_REQUIREMENTS,
  type Requirements,
  tokenScopes,
  type Trace,
} from '../../../src/core/auth/requirements.ts'
import { ForbiddenError } from '../../../src/core/errors.ts'
import { test } from '../../helpers/t.ts'

const ctx = { method: 'GET', params: { tenant: 'acme', id: '7' } }
const req = (r: Partial<Requirements>): Requirements => ({
  ...NO_REQUIREMENTS,
  place: 'routes[0].require',
  ...r,
})

function outcome(r: Requirements, claims: Record<string, unknown>): string {
  try {
    checkRequirements(r, claims, ctx)
    return 'allowed'
  } catch (e) {
    assert.ok(e instanceof ForbiddenError)
    return `${e.code} ${e.requirement}`
  }
}

test('tokenScopes() reads a scope string or an scp array; other types give none', () => {
  assert.deepEqual(tokenScopes({ scope: 'a  b' }), ['a', 'b'])
  assert.deepEqual(tokenScopes({ scp: ['a', 'b', 3] }), ['a', 'b'])
  assert.deepEqual(tokenScopes({ scope: 42 }), [])
})

test('scopes: all-of and any-of, exact tokens only', () => {
  const r = req({ scopesAll: ['orders:read'], scopesAny: ['eu', 'us'] })
  assert.equal(outcome(r, { scope: 'orders:read eu' }), 'allowed')
  assert.equal(outcome(r, { scp: ['us', 'orders:read'] }), 'allowed')
  assert.equal(outcome(r, { scope: 'orders:read' }), 'insufficient_scope routes[0].require.scopes')
  assert.equal(
    outcome(r, { scope: 'orders:reader eu' }),
    'insufficient_scope routes[0].require.scopes',
  )
  assert.equal(
    outcome(r, { scope: 'orders:read,eu' }),
    'insufficient_scope routes[0].require.scopes',
  )
})

test('roles: any-of from a claim path; wrong types grant nothing', () => {
  const r = req({ rolesAny: ['admin'], rolesClaim: claimPath('realm_access.roles') })
  assert.equal(outcome(r, { realm_access: { roles: ['user', 'admin'] } }), 'allowed')
  assert.equal(
    outcome(r, { realm_access: { roles: ['administrator'] } }),
    'insufficient_role routes[0].require.roles',
  )
  assert.equal(
    outcome(r, { realm_access: { roles: [{ admin: true }] } }),
    'insufficient_role routes[0].require.roles',
  )
  assert.equal(outcome(r, { roles: ['admin'] }), 'insufficient_role routes[0].require.roles')
})

test('claim conditions compare with templates of the request', () => {
  const c = (input: Parameters<typeof compileCondition>[0]) => compileCondition(input, 'c')
  const tenant = c({ claim: 'tenant', equals: '{params.tenant}' })
  assert.equal(evaluate(tenant, { tenant: 'acme' }, ctx), true)
  assert.equal(evaluate(tenant, { tenant: 'other' }, ctx), false)
  assert.equal(evaluate(tenant, {}, ctx), false)
  assert.equal(evaluate(tenant, { tenant: ['acme'] }, ctx), false)
  assert.equal(evaluate(c({ claim: 'id', equals: '{params.id}' }), { id: 7 }, ctx), true)
  assert.equal(evaluate(c({ claim: 'v', equals: 7 }), { v: '7' }, ctx), false)
  assert.equal(evaluate(c({ claim: 'm', oneOf: ['{method}', 'POST'] }), { m: 'GET' }, ctx), true)
  assert.equal(
    evaluate(c({ claim: 'groups', contains: 'ops' }), { groups: ['dev', 'ops'] }, ctx),
    true,
  )
  assert.equal(
    evaluate(c({ claim: 'groups', contains: 'op' }), { groups: ['dev', 'ops'] }, ctx),
    false,
  )
  assert.equal(evaluate(c({ claim: 'groups', contains: 'ops' }), { groups: 'dev ops' }, ctx), true)
  assert.equal(
    evaluate(
      c({ claim: 'email', matches: '[^@]+@example\\.com' }),
      { email: 'a@example.com' },
      ctx,
    ),
    true,
  )
  assert.equal(
    evaluate(
      c({ claim: 'email', matches: '[^@]+@example\\.com' }),
      { email: 'a@example.com.evil' },
      ctx,
    ),
    false,
  )
  assert.equal(
    evaluate(c({ claim: 'https://example.com/tenant', equals: 'acme' }), {
      'https://example.com/tenant': 'acme',
    }, ctx),
    true,
  )
})

test('claim conditions combine with all, any and not', () => {
  const cond = compileCondition({
    all: [{ claim: 'tenant', equals: '{params.tenant}' }, {
      any: [{ claim: 'plan', equals: 'pro' }, { not: { claim: 'trial', equals: true } }],
    }],
  }, 'c')
  assert.equal(evaluate(cond, { tenant: 'acme', plan: 'pro', trial: true }, ctx), true)
  assert.equal(evaluate(cond, { tenant: 'acme', plan: 'free', trial: false }, ctx), true)
  assert.equal(evaluate(cond, { tenant: 'acme', plan: 'free', trial: true }, ctx), false)
  assert.equal(evaluate(cond, { tenant: 'x', plan: 'pro' }, ctx), false)
})

test('not: a claim of another type than compared fails, as the condition does; a missing claim still passes', () => {
  const notGuest = compileCondition({ not: { claim: 'role', equals: 'guest' } }, 'c')
  assert.equal(evaluate(notGuest, { role: 'staff' }, ctx), true)
  assert.equal(evaluate(notGuest, { role: 'guest' }, ctx), false)
  assert.equal(evaluate(notGuest, {}, ctx), true)
  for (const role of [['guest'], { name: 'guest' }]) {
    const trace: Trace = []
    assert.equal(evaluate(notGuest, { role }, ctx, trace), false, JSON.stringify(role))
    assert.ok(trace.some((t) => t.step.includes('another type')), JSON.stringify(trace))
  }
  // A null claim is an absent one (as a claim header sends none for it).
  assert.equal(evaluate(notGuest, { role: null }, ctx), true)
  // A string where a boolean is compared, a nested list under contains: another type.
  const notUnverified = compileCondition({ not: { claim: 'email_verified', equals: false } }, 'c')
  assert.equal(evaluate(notUnverified, { email_verified: true }, ctx), true)
  assert.equal(evaluate(notUnverified, { email_verified: 'false' }, ctx), false)
  assert.equal(evaluate(notUnverified, { email_verified: 'true' }, ctx), false)
  const notAdmin = compileCondition({ not: { claim: 'roles', contains: 'admin' } }, 'c')
  assert.equal(evaluate(notAdmin, { roles: ['user'] }, ctx), true)
  assert.equal(evaluate(notAdmin, { roles: [['admin']] }, ctx), false)
  const notIn = compileCondition({ not: { claim: 'groups', contains: 'banned' } }, 'c')
  assert.equal(evaluate(notIn, { groups: ['a'] }, ctx), true)
  assert.equal(evaluate(notIn, { groups: 7 }, ctx), false)
  const notMatch = compileCondition(
    { not: { all: [{ claim: 'email', matches: '@evil\\.' }] } },
    'c',
  )
  assert.equal(evaluate(notMatch, { email: 'a@good.test' }, ctx), true)
  assert.equal(evaluate(notMatch, { email: ['a@evil.test'] }, ctx), false)
})

test('an integer claim beyond 2^53 equals nothing (its digits were rounded when parsed), and fails under not', () => {
  const big = JSON.parse('{"account_id":9007199254740993}')
  for (const expected of ['9007199254740992', '9007199254740993', 9007199254740992]) {
    const c = compileCondition({ claim: 'account_id', equals: expected }, 'c')
    assert.equal(evaluate(c, big, ctx), false, String(expected))
    const n = compileCondition({ not: { claim: 'account_id', equals: expected } }, 'c')
    assert.equal(evaluate(n, big, ctx), false, String(expected))
  }
  const safe = compileCondition({ claim: 'n', oneOf: ['9007199254740991'] }, 'c')
  assert.equal(evaluate(safe, { n: 9007199254740991 }, ctx), true)
})

test('checkRequirements() names the failed condition and traces what it saw', () => {
  const r = req({
    claims: [
      compileCondition(
        { claim: 'tenant', equals: '{params.tenant}' },
        'routes[0].require.claims[0]',
      ),
    ],
  })
  assert.equal(outcome(r, { tenant: 'globex' }), 'claim_mismatch routes[0].require.claims[0]')
  const trace: Trace = []
  assert.throws(() => checkRequirements(r, { tenant: 'globex' }, ctx, trace))
  assert.deepEqual(trace, [{
    step: 'routes[0].require.claims[0]: claim tenant equals "acme"',
    ok: false,
    detail: 'saw "globex"',
  }])
})

test('compileRequirements() compiles each kind from a require: block, with its place', () => {
  const r = compileRequirements({
    scopes: { all: ['a'], any: ['b', 'c'] },
    roles: { any: ['admin'], claim: 'realm_access.roles' },
    claims: [{ claim: 'tenant', equals: '{params.tenant}' }, { not: { claim: 't', equals: true } }],
  }, 'routes[2].require')
  assert.deepEqual(r.scopesAll, ['a'])
  assert.deepEqual(r.scopesAny, ['b', 'c'])
  assert.deepEqual(r.rolesAny, ['admin'])
  assert.deepEqual(r.rolesClaim, claimPath('realm_access.roles'))
  assert.deepEqual(r.claims.map((c) => [c.op, c.place]), [
    ['equals', 'routes[2].require.claims[0]'],
    ['not', 'routes[2].require.claims[1]'],
  ])
  assert.equal(r.place, 'routes[2].require')
})

test('compileRequirements() of nothing requires nothing; roles come from "roles" by default', () => {
  assert.deepEqual(compileRequirements({}, ''), NO_REQUIREMENTS)
  assert.deepEqual(
    compileRequirements({ roles: { any: ['x'] } }, 'p').rolesClaim,
    claimPath('roles'),
  )
  assert.equal(outcome(NO_REQUIREMENTS, {}), 'allowed')
})

test('checkRequirements() checks scopes, then roles, then claims, and traces each it checks', () => {
  const r = compileRequirements({
    scopes: { all: ['a'] },
    roles: { any: ['admin'] },
    claims: [{ claim: 'tenant', equals: 'acme' }],
  }, 'JWTGATE_REQUIRED_SCOPES/ROLES')
  assert.equal(
    outcome(r, { roles: ['x'] }),
    'insufficient_scope JWTGATE_REQUIRED_SCOPES/ROLES.scopes',
  )
  assert.equal(
    outcome(r, { scope: 'a', roles: ['x'] }),
    'insufficient_role JWTGATE_REQUIRED_SCOPES/ROLES.roles',
  )
  assert.equal(
    outcome(r, { scope: 'a', roles: ['admin'] }),
    'claim_mismatch JWTGATE_REQUIRED_SCOPES/ROLES.claims[0]',
  )
  const trace: Trace = []
  checkRequirements(r, { scope: 'a b', roles: 'admin', tenant: 'acme' }, ctx, trace)
  assert.deepEqual(trace, [
    { step: 'JWTGATE_REQUIRED_SCOPES/ROLES.scopes: all of [a]', ok: true, detail: 'saw [a b]' },
    {
      step: 'JWTGATE_REQUIRED_SCOPES/ROLES.roles: any of [admin] in roles',
      ok: true,
      detail: 'saw [admin]',
    },
    {
      step: 'JWTGATE_REQUIRED_SCOPES/ROLES.claims[0]: claim tenant equals "acme"',
      ok: true,
      detail: 'saw "acme"',
    },
  ])
  const none: Trace = []
  checkRequirements(NO_REQUIREMENTS, {}, ctx, none)
  assert.deepEqual(none, [])
})

test('describeRequirements() names what each kind asks, and nothing for no requirement', () => {
  assert.deepEqual(describeRequirements(NO_REQUIREMENTS), [])
  assert.deepEqual(
    describeRequirements(compileRequirements({
      scopes: { all: ['a', 'b'], any: ['c'] },
      roles: { any: ['admin'], claim: 'realm.roles' },
      claims: [{ claim: 'x', equals: 1 }, { claim: 'y', equals: 2 }],
    }, 'p')),
    ['scopes a b', 'any scope of c', 'roles admin in realm.roles', '2 claim conditions'],
  )
  assert.deepEqual(
    describeRequirements(compileRequirements({ claims: [{ claim: 'x', equals: 1 }] }, 'p')),
    ['1 claim condition'],
  )
})
