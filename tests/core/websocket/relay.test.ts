import assert from 'node:assert/strict'
import { Relay, type RelayLimits, sizeOf, utf8Length } from '../../../src/core/websocket/relay.ts'
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

test('a client end that opens after the relay gave it up (the open deadline) is closed at once, 1001', () => {
  const upstream = Object.assign(new EventTarget(), {
    readyState: 1,
    bufferedAmount: 0,
    send() {},
    close() {},
  }) as unknown as WebSocket
  const cell = () => ({ value: 0 })
  const relay = new Relay(
    upstream,
    {
      maxMessageBytes: 1024,
      maxBufferedBytes: 1024,
      maxHoldMs: 1000,
      counters: { messagesIn: cell(), messagesOut: cell(), bytesIn: cell(), bytesOut: cell() },
    } as unknown as RelayLimits,
    undefined,
    Date.now,
    () => {},
  )
  // What the open deadline does for a client Deno never reported open.
  relay.end('client_lost', 1006, '', 1001, 'client went away')
  const closes: [number, string][] = []
  const socket = {
    bufferedAmount: 0,
    send() {},
    close: (code: number, reason: string) => void closes.push([code, reason]),
  }
  relay.opened(socket as unknown as Parameters<Relay['opened']>[0])
  assert.deepEqual(closes, [[1001, 'client went away']])
})
