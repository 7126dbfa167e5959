import assert from 'node:assert/strict'
import { hasDuplicateMembers } from '../../../src/core/auth/json.ts'
import { test } from '../../helpers/t.ts'

/** Each case is valid JSON (checked), with whether some object in it repeats a member name. */
function check(cases: readonly (readonly [string, boolean])[]): void {
  for (const [text, duplicate] of cases) {
    JSON.parse(text)
    assert.equal(hasDuplicateMembers(text), duplicate, text)
  }
}

test('hasDuplicateMembers() finds a repeated name in one object, and only there', () => {
  check([
    ['{"a":1,"a":2}', true],
    ['{"a":1,"b":2,"a":3}', true],
    ['{ "a" : 1 ,\n "a" : 2 }', true],
    ['{"":1,"":2}', true],
    ['{"a":1,"b":2}', false],
    ['{"a":1,"A":2}', false],
    ['{}', false],
    ['[]', false],
    ['"a"', false],
    ['[1,"a","a"]', false],
  ])
})

test('hasDuplicateMembers() compares names after unescaping', () => {
  check([
    ['{"a":1,"\\u0061":2}', true],
    ['{"\\u0041":1,"A":2}', true],
    ['{"\\"":1,"\\"":2}', true],
    ['{"\\"":1,"\\u0022":2}', true],
    ['{"\\\\":1,"\\u005c":2}', true],
    ['{"a\\/b":1,"a/b":2}', true],
    ['{"\\ud83d\\ude00":1,"😀":2}', true],
    ['{"a\\\\":1,"a":2}', false],
    ['{"\\\\u0061":1,"a":2}', false],
    ['{"a\\n":1,"a":2}', false],
  ])
})

test('hasDuplicateMembers() reads string values as values, whatever quotes, colons or commas they hold', () => {
  check([
    ['{"a":"a","b":"a"}', false],
    ['{"a":"x\\",\\"a\\":1","b":2}', false],
    ['{"a":"b:c,d","b":1}', false],
    ['{"a":"{\\"b\\":1,\\"b\\":2}"}', false],
    ['{"a":"x\\\\","a":1}', true],
    ['{"a":"\\\\\\"","b":1,"a":2}', true],
    ['{"k:v":1,"k":2}', false],
    ['{"k,":1,"k,":2}', true],
    ['{"a":"}","a":1}', true],
    ['{"a":"]","b":{"a":1}}', false],
  ])
})

test('hasDuplicateMembers() keeps each object its own set of names, however deep', () => {
  check([
    ['{"a":{"a":1},"b":{"a":2}}', false],
    ['{"x":{"a":1,"a":2}}', true],
    ['{"a":{"b":1},"a":2}', true],
    ['{"a":{"b":{"c":1}},"b":1}', false],
    ['{"a":{"b":{"c":1}},"c":1,"b":2}', false],
    ['[{"a":1},{"a":1}]', false],
    ['{"l":[{"a":1,"a":2}]}', true],
    ['{"a":["a","a"],"b":1}', false],
    ['{"a":["b",{"b":1}],"b":1}', false],
    ['{"a":[1,2],"a":3}', true],
    ['{"a":[[],{}],"b":[{"c":[{"d":1,"d":2}]}]}', true],
    ['{"a":[{"x":1},{"y":2}],"x":1,"y":2}', false],
  ])
})
