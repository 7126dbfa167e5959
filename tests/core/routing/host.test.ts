import assert from 'node:assert/strict'
import { BadRequestError } from '../../../src/core/errors.ts'
import { checkHost, isHostValue } from '../../../src/core/routing/host.ts'
import { test } from '../../helpers/t.ts'

const VALID = [
  'example.com',
  'example.com:8080',
  'gw.test:1',
  'localhost',
  '127.0.0.1',
  '127.0.0.1:65535',
  'a_b~c-d.e',
  'EXAMPLE.COM',
  '[::1]',
  '[::1]:8080',
  '[2001:db8::1]:443',
  '[::ffff:192.0.2.1]',
]

const INVALID = [
  '',
  ':80',
  'example.com:',
  'example.com:123456',
  'example.com:port',
  'example.com/path',
  'example.com?x=1',
  'example.com#frag',
  'example.com, other.com',
  'exa mple.com',
  ' example.com',
  'user@example.com',
  'example.com\\x',
  '::1',
  '[::1',
  '::1]',
  '[::1]x',
  '[fe80::1%25eth0]',
  '[example.com]',
  'exämple.com',
]

test('isHostValue() accepts a bare host (reg-name, IPv4, bracketed IPv6) with an optional port', () => {
  for (const host of VALID) assert.equal(isHostValue(host), true, host)
})

test('isHostValue() rejects paths, queries, userinfo, second values, bad ports and bare IPv6', () => {
  for (const host of INVALID) assert.equal(isHostValue(host), false, JSON.stringify(host))
})

test('checkHost() lets a valid or absent Host through', () => {
  checkHost(null)
  for (const host of VALID) checkHost(host)
})

test('checkHost() refuses an invalid Host with 400 bad_host', () => {
  for (const host of INVALID) {
    assert.throws(
      () => checkHost(host),
      (e: unknown) =>
        e instanceof BadRequestError && e.code === 'bad_host' && e.status === 400 &&
        e.detail === 'The Host header is not a valid host[:port].',
      JSON.stringify(host),
    )
  }
})
