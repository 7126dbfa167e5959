/** The primary's relay of a worker's standard output: whole lines only, however the bytes arrive. */
import { expect, test } from 'bun:test'
import { relayLines } from '../../src/cli/workers/output.ts'

function streamOf(chunks: readonly Uint8Array[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(chunk)
      controller.close()
    },
  })
}

/** Every way of cutting `bytes` in two and three pieces. */
function* cuts(bytes: Uint8Array): Generator<Uint8Array[]> {
  for (let i = 0; i <= bytes.length; i++) {
    yield [bytes.slice(0, i), bytes.slice(i)]
    for (let j = i; j <= bytes.length; j += 7) {
      yield [bytes.slice(0, i), bytes.slice(i, j), bytes.slice(j)]
    }
  }
}

test('relayLines: only whole lines are passed on, wherever the chunks were cut (multi-byte characters too)', async () => {
  const lines = ['{"msg":"request","path":"/a"}', '{"path":"/caf\u00e9/\u{1f600}"}', '{"n":3}']
  const bytes = new TextEncoder().encode(`${lines.join('\n')}\n`)
  for (const pieces of cuts(bytes)) {
    const written: string[] = []
    await relayLines(streamOf(pieces), (text) => written.push(text))
    // Each write is one or more whole lines: joined, they are the input, line for line.
    expect(written.join('\n').split('\n')).toEqual(lines)
    for (const text of written) expect(text.endsWith('\n')).toBe(false)
  }
})

test('relayLines: a last line without a newline is passed on at the end; an endless one in pieces of 1 MiB', async () => {
  const written: string[] = []
  await relayLines(streamOf([new TextEncoder().encode('a\nb')]), (t) => written.push(t))
  expect(written).toEqual(['a', 'b'])
  const long: string[] = []
  const chunk = new Uint8Array(256 * 1024).fill(120) // 'x', no newline
  await relayLines(streamOf(Array.from({ length: 6 }, () => chunk)), (t) => long.push(t))
  expect(long.map((t) => t.length)).toEqual([5 * 256 * 1024, 256 * 1024])
})

test('relayLines: a stdout that throws does not stop the reading', async () => {
  let calls = 0
  await relayLines(
    streamOf([new TextEncoder().encode('a\nb\n'), new TextEncoder().encode('c\n')]),
    () => {
      calls++
      throw new Error('EPIPE')
    },
  )
  expect(calls).toBe(2)
})
