/**
 * Property-based fuzzing of the parts that read attacker bytes: request-target normalisation,
 * token extraction and verification, the duplicate-member scanner, and the whole gateway.
 * FUZZ_RUNS sets the number of runs per property (`npm run fuzz` runs many more).
 */
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { hasDuplicateMembers } from '../../src/core/auth/json.ts'
import { BadRequestError } from '../../src/core/errors.ts'
import { normalizeTarget } from '../../src/core/routing/path.ts'
import { gatewayFixture } from '../helpers/gateway.ts'
import { b64url, secret, sign } from '../helpers/keys.ts'
import { envVar, test } from '../helpers/t.ts'

const RUNS = Number(envVar('FUZZ_RUNS') ?? '150')
const LONG = 120_000

/** Path pieces that exercise every branch of the normaliser. */
const pathPiece = fc.oneof(
  fc.constantFrom(
    '',
    '.',
    '..',
    '%2e',
    '%2E%2e',
    '.%2e',
    'a',
    'b.c',
    '%41',
    '%2f',
    '%5C',
    '%00',
    '%zz',
    '%',
    '\\',
    ';x',
    '#',
    '?',
    ' ',
    'é',
    '~',
    '%7E',
    '%25',
    '%252F',
    '//',
    'public',
    'admin',
  ),
  fc.string({ maxLength: 6 }),
)
const target = fc.array(pathPiece, { maxLength: 8 }).map((parts) => `/${parts.join('/')}`)

test('fuzz: normalizeTarget() either rejects with 400 or returns a clean, stable path', () => {
  fc.assert(
    fc.property(target, (t) => {
      let result
      try {
        result = normalizeTarget(`http://gw${t}`)
      } catch (e) {
        assert.ok(e instanceof BadRequestError, `unexpected ${e}`)
        return
      }
      const { path } = result
      assert.ok(path.startsWith('/'))
      const segments = path.split('/')
      assert.ok(!segments.includes('.') && !segments.includes('..'), path)
      // deno-lint-ignore no-control-regex -- control characters must not survive
      assert.ok(!/%2f|%5c|%00|[\\;#\x00-\x1f\x7f]/i.test(path), path)
      assert.deepEqual(
        normalizeTarget(`http://gw${path}${result.search}`),
        result,
        'normalising twice changes nothing',
      )
    }),
    { numRuns: RUNS * 4 },
  )
})

test('fuzz: hasDuplicateMembers() agrees with a reference on generated JSON', () => {
  const name = fc.constantFrom('a', 'b', 'sub', 'é', '\u0000', '"', '\\')
  const obj = fc.array(
    fc.tuple(name, fc.oneof(fc.integer(), fc.string({ maxLength: 3 }), fc.constant(null))),
    { maxLength: 5 },
  )
  fc.assert(
    fc.property(
      obj,
      fc.boolean(),
      fc.constantFrom(':', ' : ', '\n:\t', ': '),
      (members, escape, colon) => {
        const text = `{${
          members.map(([k, v]) =>
            `${
              escape
                ? JSON.stringify(k).replace(/[a-z]/g, (c) => `\\u00${c.charCodeAt(0).toString(16)}`)
                : JSON.stringify(k)
            }${colon}${JSON.stringify(v)}`
          ).join(',')
        }}`
        const expected = new Set(members.map(([k]) => k)).size !== members.length
        assert.equal(hasDuplicateMembers(text), expected, text)
        assert.equal(hasDuplicateMembers(`[${text},{"x":[${text}]}]`), expected)
        assert.equal(hasDuplicateMembers(`{"outer":${text},"list":[1,"a:b",${text}]}`), expected)
        assert.equal(hasDuplicateMembers(`{"a":${text},"a":1}`), true)
      },
    ),
    { numRuns: RUNS * 4 },
  )
})

async function fuzzGateway() {
  const hs = secret(32)
  const g = await gatewayFixture({
    env: ({ upstream }) => ({
      JWTGATE_UPSTREAM: upstream.url,
      JWTGATE_SECRET: hs.config,
      JWTGATE_FORWARD_CLAIMS: 'sub=X-User-Id',
      JWTGATE_PUBLIC_PATHS: '/public/*',
    }),
  })
  return Object.assign(g, { hs })
}

test(
  'fuzz: random request-targets never crash the gateway, never 5xx, never pass without a token',
  async () => {
    const g = await fuzzGateway()
    try {
      await fc.assert(
        fc.asyncProperty(
          target,
          fc.constantFrom('GET', 'POST', 'DELETE', 'PROPFIND', 'PATCH'),
          async (t, method) => {
            const before = g.upstream.seen.length
            const res = await g.call(t.replace(/#/g, '%23'), { method })
            assert.ok(res.status < 500, `${res.status} for ${t}`)
            if (res.status < 300) {
              const seen = g.upstream.seen.at(-1)!.path
              assert.ok(seen === '/public' || seen.startsWith('/public/'), t)
            } else assert.equal(g.upstream.seen.length, before)
          },
        ),
        { numRuns: RUNS },
      )
    } finally {
      await g.close()
    }
  },
  LONG,
)

test(
  'fuzz: random and mutated tokens are never authorized',
  async () => {
    const g = await fuzzGateway()
    try {
      const good = await sign({ sub: 'alice' }, { alg: 'HS256', key: g.hs.raw })
      const decodedParts = (t: string) =>
        t.split('.').map((p) => {
          try {
            return atob(p.replace(/-/g, '+').replace(/_/g, '/'))
          } catch {
            return `!${p}`
          }
        }).join('.')
      const mutated = fc.tuple(fc.nat(good.length - 1), fc.constantFrom(...'ABCabc012-_.=+/ ')).map(
        ([i, c]) => good.slice(0, i) + c + good.slice(i + 1),
      )
      const truncated = fc.nat(good.length - 1).map((n) => good.slice(0, n))
      const unsigned = fc.record({ sub: fc.string(), exp: fc.integer() }).map((p) =>
        `${b64url({ alg: 'none' })}.${b64url(p)}.`
      )
      const forgedPayload = fc.record({ sub: fc.string({ maxLength: 8 }), admin: fc.boolean() })
        .map((p) =>
          `${good.split('.')[0]}.${b64url({ ...p, exp: 9_999_999_999 })}.${good.split('.')[2]}`
        )
      const garbage = fc.string({ maxLength: 200 })
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(mutated, truncated, unsigned, forgedPayload, garbage),
          async (token) => {
            let res: Response
            try {
              res = await g.call('/private', { headers: { authorization: `Bearer ${token}` } })
            } catch (e) {
              // Only the Headers constructor may refuse a value (CR, LF, NUL): nothing was sent.
              assert.ok(e instanceof TypeError, `${e}`)
              return
            }
            const same = decodedParts(token) === decodedParts(good)
            if (!same) {
              assert.equal(res.status, 401, `${res.status} for ${token}`)
              assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer realm="jwtgate"/)
            }
          },
        ),
        { numRuns: RUNS * 2 },
      )
      assert.ok(g.upstream.seen.every((s) => s.headers.get('x-user-id') === 'alice'))
    } finally {
      await g.close()
    }
  },
  LONG,
)
