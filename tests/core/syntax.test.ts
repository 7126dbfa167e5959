import assert from 'node:assert/strict'
import { isToken } from '../../src/core/syntax.ts'
import { test } from '../helpers/t.ts'

/** RFC 9110 §5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA */
const TCHAR_SYMBOLS = "!#$%&'*+-.^_`|~"

test('isToken() accepts exactly the tchar characters of ASCII, one at a time', () => {
  const accepted: string[] = []
  for (let c = 0; c < 128; c++) {
    if (isToken(String.fromCharCode(c))) accepted.push(String.fromCharCode(c))
  }
  const digits = '0123456789'
  const upper = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ'
  const expected = [...TCHAR_SYMBOLS, ...digits, ...upper, ...upper.toLowerCase()].sort()
  assert.deepEqual(accepted.sort(), expected)
})

test('isToken() accepts header, cookie and scheme names', () => {
  for (
    const name of [
      'Authorization',
      'X-User-Id',
      'x_user.id',
      'session',
      'Bearer',
      "a!#$%&'*+-.^_`|~z",
    ]
  ) {
    assert.equal(isToken(name), true, name)
  }
})

test('isToken() rejects the empty string and any name holding a separator, space or non-ASCII', () => {
  for (
    const name of [
      '',
      'X-User Id',
      ' X-User',
      'X-User ',
      'X-User:',
      'a,b',
      'a;b',
      'a=b',
      'a/b',
      'a"b',
      'a(b)',
      'a[b]',
      'a{b}',
      'a<b>',
      'a?b',
      'a@b',
      'a\\b',
      'a\tb',
      'a\nb',
      'a\u007fb',
      'Xé',
      'X-\u00a0',
    ]
  ) {
    assert.equal(isToken(name), false, JSON.stringify(name))
  }
})
