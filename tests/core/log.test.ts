import assert from 'node:assert/strict'
import { formatLine } from '../../src/core/log.ts'
import { test } from '../helpers/t.ts'

// deno-lint-ignore no-control-regex -- the control characters are what is looked for
const CONTROLS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/

test('formatLine(): pretty writes plain values bare and quotes and escapes the rest as JSON does', () => {
  const line = formatLine('pretty', 0, 'info', 'request', {
    route: 'orders',
    path: '/a b',
    sub: 'a=b',
    n: 3,
    empty: '',
    list: ['x', 'y'],
  })
  assert.equal(
    line,
    '1970-01-01T00:00:00.000Z INFO  request route=orders path="/a b" sub="a=b" n=3 empty="" list=x,y',
  )
})

test('formatLine(): a value with control characters never reaches the line raw, in either format', () => {
  const sub = 'a\u001b[31m\u009b2J\r\nFORGED x=1\u2028\u007fé'
  for (const format of ['pretty', 'json'] as const) {
    const line = formatLine(format, 0, 'info', 'request', { sub })
    assert.ok(!CONTROLS.test(line), `${format}: ${JSON.stringify(line)}`)
    assert.ok(line.includes('\\u001b[31m\\u009b2J\\r\\nFORGED x=1\\u2028\\u007fé'), line)
  }
  assert.deepEqual(JSON.parse(formatLine('json', 0, 'info', 'request', { sub })).sub, sub)
})

test('formatLine(): the invisible characters that reorder or hide text are escaped too, in either format', () => {
  // `bidi\u202egnp.exe` shows as "bidiexe.png"; zero-width ones make two names look alike.
  // Every format character (Cf): the Arabic letter mark, the word joiner, the soft hyphen, tag
  // characters (a surrogate pair, escaped as JSON escapes one) too.
  for (
    const c of [
      '\u202e',
      '\u202a',
      '\u2066',
      '\u2069',
      '\u200b',
      '\u200f',
      '\ufeff',
      '\u061c',
      '\u2060',
      '\u00ad',
      '\u{e0041}',
    ]
  ) {
    const sub = `bidi${c}gnp.exe`
    const escaped = [...Array(c.length).keys()]
      .map((i) => `\\u${c.charCodeAt(i).toString(16).padStart(4, '0')}`).join('')
    for (const format of ['pretty', 'json'] as const) {
      const line = formatLine(format, 0, 'info', 'request', { sub })
      assert.ok(!line.includes(c), `${format}: ${JSON.stringify(line)}`)
      assert.ok(line.includes(`bidi${escaped}gnp`), line)
    }
    assert.equal(JSON.parse(formatLine('json', 0, 'info', 'request', { sub })).sub, sub)
  }
})
