/**
 * The binary hands the watch of a silent streamed response to Bun's connection idle timeout when
 * it covers the stream idle timeout: the response passes untouched (no chunk through
 * JavaScript), and a response that goes silent still ends, by Bun closing the connection.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { BINARY, type Gateway, startGateway } from '../helpers/process.ts'
import { serve, type TestServer } from '../helpers/serve.ts'

describe('dist/jwtgate: a streamed response that goes silent', () => {
  let upstream: TestServer
  let gateway: Gateway

  beforeAll(async () => {
    // One chunk, then silence forever.
    upstream = await serve(() =>
      new Response(
        new ReadableStream({
          start(c) {
            c.enqueue(new TextEncoder().encode('first chunk\n'))
          },
        }),
      )
    )
    gateway = await startGateway(BINARY, {
      JWTGATE_UPSTREAM: upstream.url,
      JWTGATE_SECRET: 's'.repeat(40),
      JWTGATE_PUBLIC_PATHS: '/*',
      // The connection idle timeout (the longer of the two: 3 s) covers the stream idle timeout.
      JWTGATE_STREAM_IDLE_TIMEOUT: '3s',
      JWTGATE_UPSTREAM_TIMEOUT: '2s',
    })
  })

  afterAll(async () => {
    await gateway.kill()
    await upstream.close()
  })

  test('is cut by the connection idle timeout; its log line has no bytes_out or end', async () => {
    const started = performance.now()
    const response = await fetch(`${gateway.url}/live`)
    const reader = response.body!.getReader()
    expect(new TextDecoder().decode((await reader.read()).value)).toBe('first chunk\n')
    const next = await Promise.race([
      reader.read().then(() => 'ended', () => 'cut'),
      Bun.sleep(9000).then(() => 'still open'),
    ])
    const seconds = (performance.now() - started) / 1000
    expect(next).toBe('cut')
    expect(seconds).toBeGreaterThan(2.5)
    const line = await gateway.eventsUntil('request', (e) => e.find((x) => x.path === '/live'))
    expect({ status: line.status, bytes_out: line.bytes_out, end: line.end }).toEqual({
      status: 200,
      bytes_out: undefined,
      end: undefined,
    })
  }, 15_000)
})
