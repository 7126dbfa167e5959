import assert from 'node:assert/strict'
import { AddressSet, parseAddress, parseRange } from '../../../src/core/forward/addresses.ts'
import { test } from '../../helpers/t.ts'

test('AddressSet matches addresses in its ranges, IPv4 also in its IPv6-mapped form', () => {
  const set = new AddressSet(['127.0.0.0/8', '::1/128', '10.0.0.0/8', 'fd00::/8', '192.168.1.5'])
  for (
    const a of [
      '127.0.0.1',
      '127.9.9.9',
      '::1',
      '::ffff:127.0.0.1',
      '10.255.0.1',
      'fd12:3456::1',
      '192.168.1.5',
      '::ffff:10.0.0.1',
      '[::1]',
      'fd00::1%eth0',
    ]
  ) assert.equal(set.has(a), true, a)
  for (
    const a of [
      '128.0.0.1',
      '::2',
      '11.0.0.1',
      'fe80::1',
      '192.168.1.6',
      'x',
      '',
      '1.2.3',
      '::ffff:11.0.0.1',
      '01.2.3.4',
    ]
  ) assert.equal(set.has(a), false, a)
  assert.equal(set.has(undefined), false)
})

test('parseRange() and parseAddress() refuse what is not one', () => {
  for (
    const bad of ['10.0.0.0/33', '::/129', '10.0.0.0/', '10.0.0.0/x', '1:2:3:4:5:6:7:8:9', ':::1']
  ) {
    assert.equal(parseRange(bad), undefined, bad)
  }
  assert.deepEqual(parseAddress('::'), new Uint8Array(16))
  assert.notEqual(parseAddress('1:2:3:4:5:6:7:8'), undefined)
  assert.notEqual(parseAddress('::ffff:1.2.3.4'), undefined)
})
