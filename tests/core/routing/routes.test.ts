import assert from 'node:assert/strict'
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
