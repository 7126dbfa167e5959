import assert from 'node:assert/strict'
import { parseRevocation, type Revocation } from '../../../src/core/revocation/entry.ts'
import { RevocationList } from '../../../src/core/revocation/list.ts'
import { test } from '../../helpers/t.ts'

const NOW = 1_800_000_000
const MS = NOW * 1000
const entry = (v: unknown): Revocation => parseRevocation(v, NOW, 86_400) as Revocation

test('RevocationList: empty, nothing is revoked', () => {
  const list = new RevocationList()
  assert.equal(list.revoked({ sub: 'a', jti: 'b', iss: 'c' }), undefined)
  assert.equal(list.size, 0)
})

test('RevocationList: each kind revokes what it covers, and only that', () => {
  const list = new RevocationList()
  list.add(entry({ jti: 'j1' }), MS)
  list.add(entry({ jti: 'j2', iss: 'https://a' }), MS)
  list.add(entry({ sub: 'alice', before: NOW }), MS)
  list.add(entry({ sub: 'bob', iss: 'https://a', before: NOW }), MS)
  list.add(entry({ issuer: 'https://old', before: NOW }), MS)
  list.add(entry({ token_sha256: 'ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0' }), MS)
  assert.equal(list.size, 6)
  assert.equal(list.hasHashes, true)
  const cases: [Record<string, unknown>, string | undefined][] = [
    [{ jti: 'j1', iss: 'https://x' }, 'jti'],
    [{ jti: 'j2', iss: 'https://a' }, 'jti'],
    [{ jti: 'j2', iss: 'https://b' }, undefined],
    [{ jti: 'j3' }, undefined],
    [{ sub: 'alice', iat: NOW - 10 }, 'sub'],
    [{ sub: 'alice', iat: NOW }, undefined],
    [{ sub: 'alice' }, 'sub'],
    [{ sub: 'bob', iss: 'https://a', iat: NOW - 1 }, 'sub'],
    [{ sub: 'bob', iss: 'https://b', iat: NOW - 1 }, undefined],
    [{ sub: 'carol', iss: 'https://old', iat: NOW - 1 }, 'issuer'],
    [{ sub: 'carol', iss: 'https://old', iat: NOW + 1 }, undefined],
  ]
  for (const [claims, by] of cases) assert.equal(list.revoked(claims), by, JSON.stringify(claims))
  const h = 'ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0'
  assert.equal(list.revoked({}, [h, 'x'.repeat(43)]), 'token')
})

test('RevocationList: the same subject revoked twice keeps the later time, in one entry', () => {
  const list = new RevocationList()
  list.add(entry({ sub: 's', before: NOW - 100 }), MS)
  list.add(entry({ sub: 's', before: NOW }), MS)
  list.add(entry({ sub: 's', before: NOW - 500 }), MS)
  assert.equal(list.size, 1)
  assert.equal(list.revoked({ sub: 's', iat: NOW - 50 }), 'sub')
})

test('RevocationList is bounded: past maxEntries a new entry is refused, never an old one dropped', () => {
  const list = new RevocationList(3)
  for (const jti of ['a', 'b', 'c']) assert.equal(list.add(entry({ jti }), MS), true)
  assert.equal(list.add(entry({ jti: 'd' }), MS), false)
  assert.equal(list.revoked({ jti: 'a' }), 'jti')
  assert.equal(list.revoked({ jti: 'd' }), undefined)
  assert.equal(list.add(entry({ jti: 'a' }), MS), true, 'an entry already kept takes no room')
  assert.equal(list.replace(['a', 'b', 'c', 'd', 'e'].map((jti) => entry({ jti })), MS), 2)
})

test('RevocationList forgets expired entries; replace() swaps the whole list', () => {
  const list = new RevocationList()
  list.add(entry({ jti: 'short', until: NOW + 10 }), MS)
  list.add(entry({ jti: 'long' }), MS)
  assert.equal(list.size, 2)
  // A sweep runs at most once a minute, on an add.
  list.add(entry({ jti: 'later' }), MS + 120_000)
  assert.equal(list.size, 2)
  assert.equal(list.revoked({ jti: 'short' }), undefined)
  assert.equal(list.add(entry({ jti: 'gone', until: NOW }), MS + 1000), true, 'already expired')
  list.replace([entry({ sub: 'x', before: NOW })], MS)
  assert.equal(list.size, 1)
  assert.equal(list.revoked({ jti: 'long' }), undefined)
  assert.equal(list.revoked({ sub: 'x', iat: 1 }), 'sub')
})

test('RevocationList tells listeners of every change, once per change', () => {
  const list = new RevocationList(3)
  const seen: string[][] = []
  const stop = list.onAdd((entries) => seen.push(entries.map((e) => e.kind)))
  list.add(entry({ jti: 'a' }), MS)
  list.replace([entry({ sub: 'b' }), entry({ issuer: 'i' })], MS)
  assert.equal(list.addAll([entry({ jti: 'x' }), entry({ jti: 'y' }), entry({ sub: 'b' })], MS), 1)
  stop()
  list.add(entry({ jti: 'c' }), MS)
  // The third change lists only what it changed: `b` was held already.
  assert.deepEqual(seen, [['jti'], ['sub', 'issuer'], ['jti']])
  assert.equal(list.hasRoomFor(entry({ jti: 'z' }), MS), false)
  assert.equal(list.hasRoomFor(entry({ jti: 'x' }), MS), true, 'already held')
})

test('RevocationList: a full list makes room by dropping its expired entries, also within the minute between sweeps', () => {
  const list = new RevocationList(2)
  const soon = (jti: string) => entry({ jti, until: NOW + 10 })
  assert.equal(list.add(soon('a'), MS), true)
  assert.equal(list.add(soon('b'), MS), true)
  assert.equal(list.add(entry({ jti: 'c' }), MS + 1000), false, 'full, none expired')
  // 20 s later (the periodic sweep ran at MS): a and b are over; the new entry finds room.
  const later = MS + 20_000
  assert.equal(list.hasRoomFor(entry({ jti: 'c' }), later), true)
  assert.equal(list.add(entry({ jti: 'c' }), later), true)
  assert.equal(list.revoked({ jti: 'c' }), 'jti')
  assert.equal(list.size, 1)
  assert.equal(list.addAll([entry({ jti: 'd' }), entry({ jti: 'e' })], later), 1)
})
