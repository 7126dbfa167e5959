import assert from 'node:assert/strict'
import { BadRequestError } from '../../../src/core/errors.ts'
import { normalizeTarget, rawTarget } from '../../../src/core/routing/path.ts'
import { checkMethod } from '../../../src/core/routing/method.ts'
import { test } from '../../helpers/t.ts'

const norm = (target: string) => normalizeTarget(`http://gw${target}`)

function rejected(target: string): boolean {
  try {
    norm(target)
    return false
  } catch (e) {
    assert.ok(e instanceof BadRequestError)
    assert.equal(e.status, 400)
    assert.equal(e.code, 'bad_path')
    return true
  }
}

test('rawTarget() takes the path and query of origin-form and absolute-form URLs', () => {
  assert.equal(rawTarget('http://h/a/b?x=1'), '/a/b?x=1')
  assert.equal(rawTarget('http://evil.example:81/x'), '/x')
  assert.equal(rawTarget('http://h'), '/')
})

test('normalizeTarget() leaves ordinary paths and queries untouched', () => {
  assert.deepEqual(norm('/orders/7?x=1&y=%2F'), { path: '/orders/7', search: '?x=1&y=%2F' })
  assert.deepEqual(norm('/'), { path: '/', search: '' })
  assert.deepEqual(norm('/a?'), { path: '/a', search: '' })
  assert.deepEqual(norm('//double//slash'), { path: '//double//slash', search: '' })
})

test('normalizeTarget() decodes unreserved escapes and upper-cases the others', () => {
  assert.equal(norm('/%41%62%7e%2d%5F').path, '/Ab~-_')
  assert.equal(norm('/a%2fb%3f'.replace('%2f', '%3a')).path, '/a%3Ab%3F')
  assert.equal(norm('/a%20b').path, '/a%20b')
  assert.equal(norm('/%252F').path, '/%252F')
})

test('normalizeTarget() removes dot segments, including encoded ones', () => {
  assert.equal(norm('/a/./b').path, '/a/b')
  assert.equal(norm('/a/../b').path, '/b')
  assert.equal(norm('/a/%2e%2E/b').path, '/b')
  assert.equal(norm('/a/b/..').path, '/a/')
  assert.equal(norm('/a/.').path, '/a/')
  assert.equal(norm('/public/../admin').path, '/admin')
  assert.equal(norm('/a/..b/c.d').path, '/a/..b/c.d')
})

test('normalizeTarget() rejects the ambiguous forms with 400', () => {
  for (
    const target of [
      '/a%2Fb',
      '/a%2fb',
      '/a%5Cb',
      '/a\\b',
      '/a;b=c',
      '/a%00b',
      '/a%0Ab',
      '/a%7f',
      '/a#frag',
      '/a?x#frag',
      '/..',
      '/../etc/passwd',
      '/a/../../b',
      '/%2e%2e/x',
      '/a%zz',
      '/a%',
      '/a%2',
    ]
  ) {
    assert.ok(rejected(target), target)
  }
})

test('normalizeTarget() rejects raw control characters and escapes raw non-ASCII', () => {
  assert.ok(rejected('/a\u0000b'))
  assert.ok(rejected('/a\tb'))
  assert.equal(norm('/é').path, '/%C3%A9')
  assert.equal(norm('/a b').path, '/a%20b')
})

test('checkMethod() accepts the upper-case standard methods only', () => {
  for (const m of ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']) checkMethod(m)
  for (const m of ['get', 'Get', 'TRACE', 'CONNECT', 'PROPFIND', 'FOO']) {
    assert.throws(
      () => checkMethod(m),
      (e: unknown) => e instanceof BadRequestError && e.status === 405,
      m,
    )
  }
})
