/**
 * source.ts: a static key source (keys fixed at start) never changes, never fetches, and never
 * drops cached verifications. (Remote sources: jwks.test.ts; a verifier over sources:
 * verify.test.ts.)
 */
import assert from 'node:assert/strict'
import { importSecret } from '../../../src/core/auth/keys.ts'
import { staticSource } from '../../../src/core/auth/source.ts'
import { secret } from '../../helpers/keys.ts'
import { test } from '../../helpers/t.ts'

test("staticSource() holds the keys it was given, frozen, apart from the caller's array", async () => {
  const keys = await importSecret(secret(64).raw, undefined)
  const source = staticSource('secret', keys)
  assert.equal(source.label, 'secret')
  const current = source.current()!
  assert.deepEqual(current, keys)
  assert.ok(Object.isFrozen(current))
  keys.pop()
  assert.equal(source.current()!.length, 3)
  assert.equal(source.current(), current)
  assert.deepEqual(staticSource('empty', []).current(), [])
})

test('staticSource() never refreshes and keeps version 0, also after close()', async () => {
  const source = staticSource('public key', await importSecret(secret(32).raw, undefined))
  assert.equal(source.version(), 0)
  assert.equal(await source.refresh(), false)
  assert.equal(await source.refresh(), false)
  assert.equal(source.version(), 0)
  source.close()
  assert.equal(source.current()!.length, 1)
  assert.equal(await source.refresh(), false)
  assert.equal(source.version(), 0)
})
