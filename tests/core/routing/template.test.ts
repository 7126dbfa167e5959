import assert from 'node:assert/strict'
import {
  parseTemplate,
  renderTemplate,
  templateParams,
  templateProblem,
} from '../../../src/core/routing/template.ts'
import { test } from '../../helpers/t.ts'

test('parseTemplate() splits text and placeholders in order', () => {
  assert.deepEqual(parseTemplate('/v2/{params.tenant}/orders/{params.id}').parts, [
    '/v2/',
    { param: 'tenant' },
    '/orders/',
    { param: 'id' },
  ])
  assert.deepEqual(parseTemplate('{method}:{params.a}{params.b}x').parts, [
    { method: true },
    ':',
    { param: 'a' },
    { param: 'b' },
    'x',
  ])
  assert.deepEqual(parseTemplate('{params.only}').parts, [{ param: 'only' }])
  assert.deepEqual(parseTemplate('').parts, [])
})

test('parseTemplate() keeps the text and says whether the template is constant', () => {
  const constant = parseTemplate('/static/path')
  assert.equal(constant.text, '/static/path')
  assert.deepEqual(constant.parts, ['/static/path'])
  assert.equal(constant.constant, true)
  assert.equal(parseTemplate('').constant, true)
  assert.equal(parseTemplate('/x/{method}').constant, false)
  assert.equal(parseTemplate('/x/{params.id}').constant, false)
  const t = parseTemplate('/x/{params.id}')
  assert.equal(t.text, '/x/{params.id}')
  assert.ok(Object.isFrozen(t))
  assert.ok(Object.isFrozen(t.parts))
})

test('renderTemplate() fills params and the method; a missing param renders empty', () => {
  const t = parseTemplate('/{method}/{params.a}-{params.b}/{params.a}')
  assert.equal(renderTemplate(t, { method: 'PUT', params: { a: 'x', b: 'y' } }), '/PUT/x-y/x')
  assert.equal(renderTemplate(t, { method: 'GET', params: { a: 'x' } }), '/GET/x-/x')
  assert.equal(renderTemplate(t, { method: 'GET', params: {} }), '/GET/-/')
  // Values are inserted as they are: no escaping, no second pass over them.
  assert.equal(
    renderTemplate(parseTemplate('{params.a}'), { method: 'GET', params: { a: '{params.b}' } }),
    '{params.b}',
  )
})

test('renderTemplate() of a constant template is its text, whatever the context', () => {
  const t = parseTemplate('/fixed')
  assert.equal(renderTemplate(t, { method: 'DELETE', params: { a: 'x' } }), '/fixed')
})

test('templateParams() names the params a template uses, in order, without the method', () => {
  assert.deepEqual(templateParams(parseTemplate('/{params.a}/{method}/{params.b}/{params.a}')), [
    'a',
    'b',
    'a',
  ])
  assert.deepEqual(templateParams(parseTemplate('/{method}')), [])
  assert.deepEqual(templateParams(parseTemplate('/plain')), [])
})

test('templateProblem() accepts {method} and {params.NAME} with NAME an identifier', () => {
  for (
    const ok of [
      '',
      'plain',
      '{method}',
      '{params.a}',
      '{params._a1}',
      '{params.A_b}',
      'x{method}y',
    ]
  ) {
    assert.equal(templateProblem(ok), undefined, ok)
  }
  assert.equal(templateProblem('/v2/{params.id}', true), undefined)
  assert.equal(templateProblem('/', true), undefined)
})

test('templateProblem() names an unknown placeholder exactly', () => {
  const unknown = (name: string) =>
    `unknown placeholder {${name}} (expected {params.NAME} or {method})`
  assert.equal(templateProblem('{}'), unknown(''))
  assert.equal(templateProblem('/x/{params.}'), unknown('params.'))
  assert.equal(templateProblem('{params.1a}'), unknown('params.1a'))
  assert.equal(templateProblem('{params.a-b}'), unknown('params.a-b'))
  assert.equal(templateProblem('{params.a.b}'), unknown('params.a.b'))
  assert.equal(templateProblem('{ method }'), unknown(' method '))
  assert.equal(templateProblem('{METHOD}'), unknown('METHOD'))
  assert.equal(templateProblem('{claims.sub}'), unknown('claims.sub'))
  assert.equal(templateProblem('{method}{path}'), unknown('path'))
})

test('templateProblem() finds unbalanced braces and a path not starting with /', () => {
  for (const bad of ['{', '}', '{method', 'method}', '}{', '{{method}}', '/a/{params.x}}']) {
    assert.equal(templateProblem(bad), 'has an unbalanced { or }', bad)
  }
  assert.equal(templateProblem('v2/{params.id}', true), 'must start with /')
  assert.equal(templateProblem('', true), 'must start with /')
  assert.equal(templateProblem('v2/{params.id}'), undefined)
})

test('renderTemplate() takes only the route’s own parameters, never an inherited property', () => {
  const t = parseTemplate('[{params.constructor}|{params.toString}|{params.__proto__}|{params.id}]')
  assert.equal(renderTemplate(t, { method: 'GET', params: { id: '7' } }), '[|||7]')
})
