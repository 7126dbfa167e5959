/**
 * The compiled binary's admin listener over raw HTTP/1.0 without a Host header, which Bun hands
 * to the handler as a relative `request.url` (`/metrics`): answered as with Host, and no Bun
 * error page (the error, the bundle's source) on either listener, however a request fails.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { secret } from '../helpers/keys.ts'
import { BINARY, type Gateway, startGateway } from '../helpers/process.ts'
import { exchange, type RawResponse } from '../helpers/raw-http.ts'

/** What Bun's development error page would give away. */
const LEAK = /<html|Invalid URL|ERR_INVALID_URL|\$bunfs|\.ts:\d+/i

async function ask(port: number, request: string): Promise<RawResponse> {
  const { responses } = await exchange(port, request, { timeoutMs: 3000 })
  expect(responses.length).toBe(1)
  const res = responses[0]!
  expect(res.text()).not.toMatch(LEAK)
  expect(res.headers.get('content-type') ?? '').not.toMatch(/html/)
  return res
}

const adminPort = (g: Gateway) => Number(new URL(g.adminUrl!).port)

describe('dist/jwtgate: the admin listener over HTTP/1.0 without Host', () => {
  let gateway: Gateway
  beforeAll(async () => {
    gateway = await startGateway(BINARY, {
      JWTGATE_UPSTREAM: 'http://127.0.0.1:9',
      JWTGATE_SECRET: secret(32).config,
      JWTGATE_ADMIN_TOKEN: 'e2e-admin-token-0123456789abcdef0123',
    }, { admin: true })
  })
  afterAll(async () => {
    await gateway?.kill()
  })

  test('GET /metrics, /readyz and POST /revocations are answered as with a Host header', async () => {
    const port = adminPort(gateway)
    const metrics = await ask(port, 'GET /metrics HTTP/1.0\r\n\r\n')
    expect(metrics.status).toBe(200)
    expect(metrics.text()).toMatch(/^jwtgate_requests_in_flight 0$/m)
    expect((await ask(port, 'GET /readyz HTTP/1.0\r\n\r\n')).status).toBe(200)
    expect((await ask(port, 'GET /nowhere HTTP/1.0\r\n\r\n')).status).toBe(404)
    const revoke = await ask(port, 'POST /revocations HTTP/1.0\r\nContent-Length: 0\r\n\r\n')
    expect(revoke.status).toBe(401)
    expect(revoke.json().code).toBe('admin_unauthorized')
  })

  test('the main listener refuses it with problem+json; nothing reaches stderr', async () => {
    const res = await ask(gateway.port, 'GET /x HTTP/1.0\r\n\r\n')
    expect(res.headers.get('content-type')).toBe('application/problem+json')
    expect(res.status).toBeLessThan(500)
    expect(gateway.stderr()).toBe('')
    expect(gateway.events('internal_error')).toEqual([])
  })
})

describe('dist/jwtgate with workers: the primary’s admin listener over HTTP/1.0 without Host', () => {
  let gateway: Gateway
  beforeAll(async () => {
    gateway = await startGateway(BINARY, {
      JWTGATE_UPSTREAM: 'http://127.0.0.1:9',
      JWTGATE_SECRET: secret(32).config,
      JWTGATE_WORKERS: '2',
    }, { admin: true, timeoutMs: 20_000 })
  })
  afterAll(async () => {
    await gateway?.kill()
  })

  test('the summed /metrics, never Bun’s error page', async () => {
    const res = await ask(adminPort(gateway), 'GET /metrics HTTP/1.0\r\n\r\n')
    expect(res.status).toBe(200)
    expect(res.text()).toContain('jwtgate_workers 2')
    expect(gateway.stderr()).not.toMatch(LEAK)
  })
})
