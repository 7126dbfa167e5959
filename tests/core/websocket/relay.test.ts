import assert from 'node:assert/strict'
import { sizeOf, utf8Length } from '../../../src/core/websocket/relay.ts'
import { test } from '../../helpers/t.ts'

test("utf8Length() is the UTF-8 encoding's length, without encoding", () => {
  const samples = [
    '',
    'hello',
    'café',
    '€uro',
    '😀 smile',
    'a\u{10FFFF}b',
    '\ud800 lone',
    'x\udc00',
  ]
  for (const s of samples) assert.equal(utf8Length(s), new TextEncoder().encode(s).byteLength, s)
})

test('sizeOf() counts text as UTF-8 and bytes as they are', () => {
  assert.equal(sizeOf('é'), 2)
  assert.equal(sizeOf(new Uint8Array(5)), 5)
  assert.equal(sizeOf(new ArrayBuffer(7)), 7)
})
