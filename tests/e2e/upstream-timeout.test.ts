/**
 * JWTGATE_UPSTREAM_TIMEOUT and uploads (issue 13): for a watched upload (a chunked body with
 * JWTGATE_MAX_BODY set, or any chunked body under Deno) the timeout counts from the last chunk
 * the upstream took, so a slow upload that keeps moving is not cut, and the upstream then has the
 * whole timeout for its answer. The binary and `deno run` alike.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { secret, sign } from '../helpers/keys.ts'
import { type Gateway, sleep, startGateway, TARGETS } from '../helpers/process.ts'
import { serve, type TestServer } from '../helpers/serve.ts'

const CHUNKS = 10
const EVERY_MS = 250
const TIMEOUT_S = 1

/** A chunked body of CHUNKS × 1 KB, one every EVERY_MS: 2.5 s in all, longer than the timeout. */
function slowBody(): ReadableStream<Uint8Array> {
  let sent = 0
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (sent === CHUNKS) return controller.close()
      if (sent++ > 0) await sleep(EVERY_MS)
      controller.enqueue(new Uint8Array(1024).fill(7))
    },
  })
}

for (const target of TARGETS) {
  describe(`${target.name}: the upstream timeout and uploads`, () => {
    const key = secret(32)
    let upstream: TestServer
    let gateway: Gateway
    let authorization: string

    beforeAll(async () => {
      // Reads the whole body; /silent then never answers.
      upstream = await serve(async (request) => {
        const bytes = (await request.arrayBuffer()).byteLength
        if (new URL(request.url).pathname === '/silent') await sleep(10_000)
        return Response.json({ bytes })
      })
      gateway = await startGateway(target, {
        JWTGATE_WORKERS: '1',
        JWTGATE_UPSTREAM: upstream.url,
        JWTGATE_SECRET: key.config,
        JWTGATE_UPSTREAM_TIMEOUT: `${TIMEOUT_S}s`,
        JWTGATE_MAX_BODY: '10m',
      })
      authorization = `Bearer ${await sign({ sub: 'ann' }, { alg: 'HS256', key: key.raw })}`
    })
    afterAll(async () => {
      await gateway.kill()
      await upstream.close()
    })

    const post = (path: string) =>
      fetch(`${gateway.url}${path}`, {
        method: 'POST',
        headers: { authorization },
        body: slowBody(),
        duplex: 'half',
        signal: AbortSignal.timeout(15_000),
      } as RequestInit)

    test(
      'a chunked upload that keeps moving for 2.5 s passes a 1 s upstream timeout whole',
      async () => {
        const response = await post('/upload')
        expect(response.status).toBe(200)
        expect(await response.json()).toEqual({ bytes: CHUNKS * 1024 })
      },
      10_000,
    )

    test(
      'after the upload, the upstream has the timeout for its answer: 504 about 1 s after the last chunk',
      async () => {
        const started = performance.now()
        const response = await post('/silent')
        const elapsed = performance.now() - started
        expect(response.status).toBe(504)
        expect(((await response.json()) as { code: string }).code).toBe('upstream_timeout')
        const uploadMs = (CHUNKS - 1) * EVERY_MS
        expect(elapsed).toBeGreaterThan(uploadMs + TIMEOUT_S * 1000 - 100)
        expect(elapsed).toBeLessThan(uploadMs + TIMEOUT_S * 1000 + 1500)
      },
      10_000,
    )
  })
}
