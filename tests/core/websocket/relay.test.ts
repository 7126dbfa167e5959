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

/** A relay for an upstream whose `close`, `pause` and `resume` are named in `calls`. */
function relayOf(limits: { maxMessageBytes: number; maxBufferedBytes: number }, calls: string[]) {
  const upstream = Object.assign(new EventTarget(), {
    readyState: 1,
    bufferedAmount: 0,
    send() {},
    close: () => void calls.push('upstream closed'),
    pause: () => void calls.push('pause'),
    resume: () => void calls.push('resume'),
  }) as unknown as WebSocket
  const cell = () => ({ value: 0 })
  const counters = { messagesIn: cell(), messagesOut: cell(), bytesIn: cell(), bytesOut: cell() }
  return new Relay(
    upstream,
    { ...limits, maxHoldMs: 10_000, counters } as unknown as RelayLimits,
    undefined,
    Date.now,
    () => {},
  )
}

test('a client end that opens after the relay gave it up (the open deadline) is closed at once, 1001', () => {
  const relay = relayOf({ maxMessageBytes: 1024, maxBufferedBytes: 1024 }, [])
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

test("an upstream that sends more than half the bound before the client's end is open is held, not cut; the client gets it all once open, and the upstream reads again when the client has taken it", async () => {
  const calls: string[] = []
  const relay = relayOf({ maxMessageBytes: 64, maxBufferedBytes: 256 }, calls)
  try {
    // Three messages: 192 bytes, past half the bound (128): the upstream is held at the third.
    for (let i = 0; i < 3; i++) relay.fromUpstream(new Uint8Array(64))
    assert.deepEqual(calls, ['pause'])
    // What the upstream had already read still comes (one more chunk): within the bound, kept.
    relay.fromUpstream(new Uint8Array(64))
    assert.equal(relay.done, false)
    const sent: number[] = []
    const socket = {
      bufferedAmount: 256,
      send: (data: Uint8Array) => void sent.push(data.byteLength),
      close: (code: number, reason: string) => void calls.push(`client closed ${code} ${reason}`),
    }
    relay.opened(socket as unknown as Parameters<Relay['opened']>[0])
    assert.deepEqual(sent, [64, 64, 64, 64])
    assert.deepEqual(calls, ['pause'])
    // The client's runtime writes it out: the upstream reads again.
    socket.bufferedAmount = 0
    const until = Date.now() + 1000
    while (!calls.includes('resume') && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 5))
    }
    assert.deepEqual(calls, ['pause', 'resume'])
  } finally {
    relay.end('shutdown', 1001, '', 1001, '')
  }
})

test("a client end that throws on send (some Deno versions once its close has begun) ends the connection; nothing is thrown into the upstream's event listener", () => {
  const calls: string[] = []
  const relay = relayOf({ maxMessageBytes: 64, maxBufferedBytes: 256 }, calls)
  const socket = {
    bufferedAmount: 0,
    send() {
      throw new DOMException('readyState not OPEN', 'InvalidStateError')
    },
    close: () => void calls.push('client closed'),
  }
  relay.opened(socket as unknown as Parameters<Relay['opened']>[0])
  // As the upstream's WebSocket delivers it: an event to the relay, its listener.
  relay.handleEvent(new MessageEvent('message', { data: 'after the client left' }))
  assert.equal(relay.done, true)
  assert.equal(relay.record.cause, 'client_lost')
  assert.deepEqual(calls, ['upstream closed'])
})
