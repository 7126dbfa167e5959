import assert from 'node:assert/strict'
import {
  durationMs,
  parseDuration,
  parseInteger,
  parseList,
  parseSize,
  unitMs,
} from '../../../src/core/config/values.ts'
import { test } from '../../helpers/t.ts'

test('durations: ms, s, m, h, or plain seconds; one unit table', () => {
  assert.deepEqual(['ms', 's', 'm', 'h', 'd', ''].map(unitMs), [
    1,
    1000,
    60_000,
    3_600_000,
    undefined,
    undefined,
  ])
  assert.equal(parseDuration('500ms'), 500)
  assert.equal(parseDuration(' 1.5 '), 1500)
  assert.equal(parseDuration('5m'), 300_000)
  for (const bad of ['', 'soon', '5x', '-1s', '1e3', '5 m', '5M']) {
    assert.equal(parseDuration(bad), undefined, bad)
  }
})

test('durationMs() reads a file duration: seconds as a number, or text', () => {
  assert.equal(durationMs(2), 2000)
  assert.equal(durationMs(0.0015), 2)
  assert.equal(durationMs('10m'), 600_000)
})

test('sizes, lists and whole numbers', () => {
  assert.equal(parseSize('512k'), 512 * 1024)
  assert.equal(parseSize('10MB'), 10 * 1024 ** 2)
  assert.equal(parseSize('2 g'), 2 * 1024 ** 3)
  assert.equal(parseSize('1.5m'), undefined)
  assert.deepEqual(parseList(' a, ,b ,'), ['a', 'b'])
  assert.deepEqual(parseList('a b,c', true), ['a', 'b', 'c'])
  assert.equal(parseInteger('0042', 0, 100), 42)
  assert.equal(parseInteger('101', 0, 100), undefined)
  assert.equal(parseInteger('-1', -5, 5), undefined)
})
