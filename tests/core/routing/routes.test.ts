import assert from 'node:assert/strict'
import { BadRequestError } from '../../../src/core/errors.ts'
import { normalizeTarget } from '../../../src/core/routing/path.ts'
import { stripPrefixProblem } from '../../../src/core/routing/rewrite.ts'
import {
  compileRoutes,
  matchRoute,
  patternProblem,
  shadowedRoutes,
} from '../../../src/core/routing/routes.ts'
import {
  parseTemplate,
  renderTemplate,
  templateProblem,
} from '../../../src/core/routing/template.ts'
import { test } from '../../helpers/t.ts'

const route = (pattern: string, methods?: string[]) => ({ pattern, methods })

test('patternProblem() accepts itty-router syntax and rejects the rest', () => {
  for (
    const ok of ['/', '/health', '/orders/:id', '/files/*', '/docs/:rest+', '/a-b/c.d/~e', '/%20x']
  ) assert.equal(patternProblem(ok), undefined, ok)
  assert.match(patternProblem('orders')!, /must start with \//)
  assert.match(patternProblem('/a*b')!, /not a literal/)
  assert.match(patternProblem('/*/x')!, /last segment/)
  assert.match(patternProblem('/a/(x|y)')!, /not a literal/)
  assert.match(patternProblem('/a/../b')!, /dot segments|not a literal/)
  assert.match(patternProblem('/a/')!, /not a literal/)
})

/** The pattern written with `%xx` (lower-case hex) for the character at `i`, `%XX` with `upper`. */
const escapeAt = (text: string, i: number, upper: boolean) => {
  const hex = text.charCodeAt(i).toString(16).padStart(2, '0')
  return `${text.slice(0, i)}%${upper ? hex.toUpperCase() : hex}${text.slice(i + 1)}`
}

test('patternProblem() refuses a literal no normalised request path can equal, naming the spelling', () => {
  const UNRESERVED = 'ABCXYZabcxyz0189-._~'
  for (const c of UNRESERVED) {
    const plain = `/a${c}b/*`
    for (const upper of [true, false]) {
      const escaped = escapeAt(plain, 2, upper)
      assert.equal(
        patternProblem(escaped),
        `never matches a request: requests are compared in normalised form, write ${
          JSON.stringify(plain)
        }`,
        escaped,
      )
      // The spelling named is the one a request for the escaped form is compared in.
      assert.equal(normalizeTarget(`http://h${escaped.replace('*', 'x')}`).path, `/a${c}b/x`)
      assert.equal(patternProblem(plain), undefined, plain)
    }
  }
  // Other escapes: upper-case hex is the normal form, lower- or mixed-case never matches.
  const respelled: [string, string][] = [
    ['/caf%c3%a9/*', '/caf%C3%A9/*'],
    ['/caf%C3%a9/*', '/caf%C3%A9/*'],
    ['/a%3ab/:id', '/a%3Ab/:id'],
    ['/%7Eadmin/*', '/~admin/*'],
    ['/%61pi/*', '/api/*'],
    ['/x/%2d/:rest+', '/x/-/:rest+'],
  ]
  for (const [written, normal] of respelled) {
    assert.ok(patternProblem(written)?.endsWith(`write ${JSON.stringify(normal)}`), written)
  }
  for (const ok of ['/caf%C3%A9/*', '/a%3Ab/:id', '/%20x', '/%25', '/~admin/*']) {
    assert.equal(patternProblem(ok), undefined, ok)
  }
  // Escapes a request can never carry: refused, not silently dead.
  for (
    const dead of [
      '/a%2Fb',
      '/a%2fb/*',
      '/a%5Cb',
      '/a%00',
      '/a%1f/*',
      '/a%7F',
      '/%2e/x',
      '/a/%2E%2E',
    ]
  ) {
    assert.match(patternProblem(dead)!, /^never matches a request: /, dead)
  }
})

test('stripPrefixProblem() refuses a prefix no normalised path starts with, naming the spelling', () => {
  for (const ok of ['/files', '/files/', '/', '/a/b', '/caf%C3%A9', '/a%20b']) {
    assert.equal(stripPrefixProblem(ok), undefined, ok)
  }
  assert.equal(stripPrefixProblem('files'), 'must start with /')
  assert.equal(
    stripPrefixProblem('/%66iles'),
    'never matches a request: requests are compared in normalised form, write "/files"',
  )
  assert.match(stripPrefixProblem('/caf%c3%a9/')!, /write "\/caf%C3%A9"$/)
  assert.match(stripPrefixProblem('/café')!, /write "\/caf%C3%A9"$/)
  assert.match(stripPrefixProblem('/a b')!, /write "\/a%20b"$/)
  for (const dead of ['/a//b', '/a/./b', '/a/../b', '/a%2Fb', '/a?x', '/a#x', '/a%00']) {
    assert.match(stripPrefixProblem(dead)!, /^never matches a request: /, dead)
  }
})

test('matchRoute() refuses a path parameter that is not UTF-8 with 400 bad_path', () => {
  const routes = compileRoutes([route('/items/:id'), route('/docs/:rest+'), route('/*')])
  const NOT_UTF8 = [
    '%C0',
    '%C0%AE',
    '%C1%BF',
    '%80',
    '%BF',
    '%FE',
    '%FF',
    '%E2%82',
    '%ED%A0%80',
    '%F4%90%80%80',
    '%F8%88%80%80%80',
    'a%C3',
    '%C3%28',
  ]
  for (const bad of NOT_UTF8) {
    for (const path of [`/items/${bad}`, `/docs/${bad}`, `/docs/a/${bad}/b`, `/docs/${bad}/x`]) {
      assert.throws(
        () => matchRoute(routes, 'GET', path),
        (e: unknown) => e instanceof BadRequestError && e.status === 400 && e.code === 'bad_path',
        path,
      )
    }
  }
  // Valid UTF-8 decodes; %25 is a percent sign, decoded once; paths without params never decode.
  assert.deepEqual(matchRoute(routes, 'GET', '/items/caf%C3%A9')!.params, { id: 'café' })
  assert.deepEqual(matchRoute(routes, 'GET', '/items/%25C0')!.params, { id: '%C0' })
  assert.deepEqual(matchRoute(routes, 'GET', '/docs/%F0%9F%98%80/x')!.params, { rest: '😀/x' })
  assert.equal(matchRoute(routes, 'GET', '/other/%C0')!.route.index, 2)
})

test("shadowedRoutes() counts an earlier route refusing a later one's sample as covering it", () => {
  const routes = compileRoutes([route('/:a/*'), route('/%C0/x'), route('/b')])
  assert.deepEqual(shadowedRoutes(routes), [[1, 0]])
})

test('matchRoute() takes the first route whose method and path match, with decoded params', () => {
  const routes = compileRoutes([
    route('/public/*'),
    route('/orders/:id', ['GET']),
    route('/orders/:id', ['DELETE']),
    route('/files/:rest+'),
    route('/*'),
  ])
  assert.equal(matchRoute(routes, 'GET', '/public/a/b')!.route.index, 0)
  assert.equal(matchRoute(routes, 'GET', '/public')!.route.index, 4)
  assert.equal(matchRoute(routes, 'GET', '/public/')!.route.index, 0)
  assert.equal(matchRoute(routes, 'GET', '/publicity')!.route.index, 4)
  const get = matchRoute(routes, 'GET', '/orders/a%20b')!
  assert.equal(get.route.index, 1)
  assert.deepEqual(get.params, { id: 'a b' })
  assert.equal(matchRoute(routes, 'HEAD', '/orders/7')!.route.index, 1)
  assert.equal(matchRoute(routes, 'DELETE', '/orders/7')!.route.index, 2)
  assert.equal(matchRoute(routes, 'POST', '/orders/7')!.route.index, 4)
  assert.deepEqual(matchRoute(routes, 'GET', '/files/x/y.txt')!.params, { rest: 'x/y.txt' })
  assert.equal(matchRoute(routes, 'GET', '/Orders/7')!.route.index, 4)
})

test('matchRoute() is exact: no tolerated trailing slashes', () => {
  const routes = compileRoutes([route('/health'), route('/orders/:id'), route('/')])
  assert.equal(matchRoute(routes, 'GET', '/health')!.route.index, 0)
  assert.equal(matchRoute(routes, 'GET', '/health/'), undefined)
  assert.equal(matchRoute(routes, 'GET', '/health//'), undefined)
  assert.equal(matchRoute(routes, 'GET', '/orders/1/'), undefined)
  assert.equal(matchRoute(routes, 'GET', '/')!.route.index, 2)
})

test('matchRoute() finds nothing when no route fits', () => {
  const routes = compileRoutes([route('/orders/:id', ['GET'])])
  assert.equal(matchRoute(routes, 'POST', '/orders/1'), undefined)
  assert.equal(matchRoute(routes, 'GET', '/orders'), undefined)
  assert.equal(matchRoute(routes, 'GET', '/orders/1/2'), undefined)
})

test('shadowedRoutes() finds later routes an earlier one always wins', () => {
  const routes = compileRoutes([
    route('/a/*'),
    route('/a/:id', ['GET']),
    route('/b/:id', ['GET']),
    route('/b/:id'),
    route('/b/:id', ['GET', 'POST']),
  ])
  assert.deepEqual(shadowedRoutes(routes), [[1, 0], [4, 3]])
})

test('templates render params and the method, and reject unknown placeholders', () => {
  const t = parseTemplate('/v2/{params.tenant}/{method}')
  assert.equal(renderTemplate(t, { method: 'GET', params: { tenant: 'acme' } }), '/v2/acme/GET')
  assert.equal(parseTemplate('plain').constant, true)
  assert.equal(templateProblem('{params.x}'), undefined)
  assert.match(templateProblem('{claims.sub}')!, /unknown placeholder/)
  assert.match(templateProblem('{params.x')!, /unbalanced/)
  assert.match(templateProblem('x', true)!, /must start with \//)
})
