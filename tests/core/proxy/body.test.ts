import assert from 'node:assert/strict'
import { type BodyEnd, BodyIdle, BodyTooLarge, watchBody } from '../../../src/core/proxy/body.ts'
import { test } from '../../helpers/t.ts'

function source(chunks: Uint8Array[], pauseMs = 0): ReadableStream<Uint8Array> {
  let i = 0
  return new ReadableStream({
    async pull(controller) {
      if (pauseMs > 0 && i > 0) await new Promise((r) => setTimeout(r, pauseMs))
      if (i < chunks.length) controller.enqueue(chunks[i++]!)
      else controller.close()
    },
  })
}

async function drain(stream: ReadableStream<Uint8Array>): Promise<number> {
  let n = 0
  for await (const chunk of stream) n += chunk.byteLength
  return n
}

test('watchBody() passes every byte through and reports the count', async () => {
  let seen: [number, BodyEnd] | undefined
  const out = watchBody(source([new Uint8Array(10), new Uint8Array(5)]), {
    maxBytes: undefined,
    idleMs: 1000,
    now: Date.now,
    onEnd: (b, e) => (seen = [b, e]),
  })
  assert.equal(await drain(out), 15)
  assert.deepEqual(seen, [15, 'done'])
})

test('watchBody() errors the stream once it goes over its cap', async () => {
  let end: BodyEnd | undefined
  const out = watchBody(source([new Uint8Array(600), new Uint8Array(600)]), {
    maxBytes: 1000,
    idleMs: 0,
    now: Date.now,
    onEnd: (_, e) => (end = e),
  })
  await assert.rejects(drain(out), BodyTooLarge)
  assert.equal(end, 'too_large')
})

test('watchBody() errors the stream when the source stays silent past the idle timeout', async () => {
  let end: BodyEnd | undefined
  const started = Date.now()
  const out = watchBody(source([new Uint8Array(1), new Uint8Array(1)], 2000), {
    maxBytes: undefined,
    idleMs: 150,
    now: Date.now,
    onEnd: (_, e) => (end = e),
  })
  await assert.rejects(drain(out), BodyIdle)
  assert.equal(end, 'idle')
  assert.ok(Date.now() - started < 1500)
})

test('watchBody() reports a cancel by the consumer as aborted', async () => {
  let end: BodyEnd | undefined
  const out = watchBody(source([new Uint8Array(1), new Uint8Array(1)], 50), {
    maxBytes: undefined,
    idleMs: 0,
    now: Date.now,
    onEnd: (_, e) => (end = e),
  })
  const reader = out.getReader()
  await reader.read()
  await reader.cancel()
  assert.equal(end, 'aborted')
})
