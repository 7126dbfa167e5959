import assert from 'node:assert/strict'
import { BadRequestError } from '../../../src/core/errors.ts'
import { configuredPath, normalizeTarget, rawTarget } from '../../../src/core/routing/path.ts'
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

test('rawTarget() reads a scheme only at the start: a later :// is part of the path or query', () => {
  // Bun's request.url is relative for HTTP/1.0 without Host: the target as the client wrote it.
  for (
    const target of [
      '/api/x/http://h/public/x',
      '/api/x/https://h:443/public/x',
      '/api?next=http://h/public/x',
      '/api/x?a=1&u=ws://h/public',
      '/a:b://c/d',
      '/+x://h/public',
      '/',
    ]
  ) assert.equal(rawTarget(target), target, target)
  // Absolute-form: any scheme (RFC 3986 §3.1), any case; the authority ends at / ? or #.
  assert.equal(rawTarget('HTTPS://h:8443/a/b'), '/a/b')
  assert.equal(rawTarget('web+x.y-z://h/a?q'), '/a?q')
  assert.equal(rawTarget('http://h?next=/public/x'), '/?next=/public/x')
  assert.equal(rawTarget('http://user@h/a'), '/a')
  assert.equal(rawTarget('http://[::1]:8080/a'), '/a')
  assert.deepEqual(normalizeTarget('/api?next=http://h/public/x'), {
    path: '/api',
    search: '?next=http://h/public/x',
  })
  assert.deepEqual(normalizeTarget('http://h?next=/public/x'), {
    path: '/',
    search: '?next=/public/x',
  })
})

test('normalizeTarget() leaves ordinary paths and queries untouched', () => {
  assert.deepEqual(norm('/orders/7?x=1&y=%2F'), { path: '/orders/7', search: '?x=1&y=%2F' })
  assert.deepEqual(norm('/'), { path: '/', search: '' })
  assert.deepEqual(norm('/a?'), { path: '/a', search: '' })
  assert.deepEqual(norm('/a?x=//y&z=http://h//w'), { path: '/a', search: '?x=//y&z=http://h//w' })
})

test('normalizeTarget() refuses an empty segment (//) anywhere in the path, not in the query', () => {
  // nginx (merge_slashes), Apache and Rails read /api//admin/x as /api/admin/x.
  for (
    const target of [
      '//',
      '//a',
      '///a',
      '/a//',
      '/a//b',
      '//double//slash',
      '/api//admin/x',
      '/api/admin//x',
      '/a//../b',
      '/a/.//b',
      '/a/%2e//b',
      '/a//%41',
      '/caf\u00e9//x',
      '/a//b?x=1',
    ]
  ) assert.ok(rejected(target), target)
  assert.throws(() => normalizeTarget('http://h//a'), BadRequestError)
  assert.throws(() => normalizeTarget('//a/b'), BadRequestError)
  assert.equal(norm('/a/b?//').search, '?//')
})

test('configuredPath() is the form a request for a configured path takes, or why none can', () => {
  const same = ['/', '/api/*', '/orders/:id', '/docs/:rest+', '/a%20b', '/caf%C3%A9', "/a'b@c"]
  for (const path of same) assert.deepEqual(configuredPath(path), { path }, path)
  assert.deepEqual(configuredPath('/%61pi/*'), { path: '/api/*' })
  assert.deepEqual(configuredPath('/%7Eadmin'), { path: '/~admin' })
  assert.deepEqual(configuredPath('/caf%c3%a9'), { path: '/caf%C3%A9' })
  assert.deepEqual(configuredPath('/caf\u00e9'), { path: '/caf%C3%A9' })
  for (
    const path of [
      '/a%2Fb',
      '/a%5c',
      '/a%00',
      '/a%zz',
      '/a//b',
      '/a/%2e/b',
      '/%2E%2e',
      '/a?b',
      '/a#',
    ]
  ) assert.ok('problem' in configuredPath(path), path)
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

test('normalizeTarget() refuses escaped bytes beyond ASCII that are not well-formed UTF-8, and keeps those that are', () => {
  // Overlong forms of `.` and `/` (a lenient decoder reads them as such), surrogates, values past
  // U+10FFFF, bytes that cannot lead, continuation bytes alone, sequences cut short or broken
  // by a plain character or an ASCII escape.
  for (
    const target of [
      '/public/%C0%AE%C0%AE/admin',
      '/public/%c0%ae%c0%ae/admin',
      '/%C1%81',
      '/%C0%AF',
      '/public/%E0%80%AE%E0%80%AE/admin',
      '/%F0%80%80%AE',
      '/%F8%80%80%80%AE',
      '/%FC%80%80%80%80%AE',
      '/%ED%A0%80',
      '/%ED%BF%BF',
      '/%F4%90%80%80',
      '/%F5%80%80%80',
      '/%FF',
      '/%FE',
      '/%80',
      '/%BF/x',
      '/%C3',
      '/%E2%82',
      '/x/%F0%9F%98',
      '/%C3a',
      '/%C3/x',
      '/%C3%41',
      '/%E2%82%AC%AC',
    ]
  ) assert.ok(rejected(target), target)
  // Well-formed: each boundary of Unicode Table 3-7, in either case of hex.
  const kept: [string, string][] = [
    ['/%c3%a9', '/%C3%A9'],
    ['/%C2%80', '/%C2%80'],
    ['/%DF%BF', '/%DF%BF'],
    ['/%E0%A0%80', '/%E0%A0%80'],
    ['/%E2%82%AC/x', '/%E2%82%AC/x'],
    ['/%ED%9F%BF', '/%ED%9F%BF'],
    ['/%EE%80%80', '/%EE%80%80'],
    ['/%EF%BF%BD', '/%EF%BF%BD'],
    ['/%F0%90%80%80', '/%F0%90%80%80'],
    ['/%f0%9f%98%80', '/%F0%9F%98%80'],
    ['/%F4%8F%BF%BF', '/%F4%8F%BF%BF'],
    ['/%C3%A9%41', '/%C3%A9A'],
    ['/caf%C3%A9/%2e%2e/x', '/x'],
  ]
  for (const [target, path] of kept) assert.equal(norm(target).path, path, target)
  // Raw characters beyond ASCII are escaped as UTF-8 by the gateway itself: kept.
  assert.equal(norm('/é').path, '/%C3%A9')
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
