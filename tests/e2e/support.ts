/** Assertions and small clients shared by the end-to-end suites (not collected: no `.test.`). */
import { expect } from 'bun:test'
import { connect } from 'node:net'
import { concat, indexOfCrlfCrlf } from '../helpers/bytes.ts'
import { sleep } from '../helpers/process.ts'

/** Asserts an RFC 9457 error response from the gateway and returns its body. */
export async function expectProblem(
  response: Response,
  status: number,
  code: string,
): Promise<Record<string, unknown>> {
  const text = await response.text()
  expect({ status: response.status, text }).toMatchObject({ status })
  expect(response.headers.get('content-type')).toBe('application/problem+json')
  expect(response.headers.get('cache-control')).toBe('no-store')
  expect(response.headers.get('x-request-id')).toBeTruthy()
  const body = JSON.parse(text) as Record<string, unknown>
  expect(body).toMatchObject({ status, code, type: `urn:jwtgate:problem:${code}` })
  return body
}

/** Asserts a 401 for a present but unacceptable token (RFC 6750 §3.1 `invalid_token`). */
export async function expectInvalidToken(response: Response, code: string): Promise<void> {
  await expectProblem(response, 401, code)
  const challenge = response.headers.get('www-authenticate') ?? ''
  expect(challenge).toStartWith(
    'Bearer realm="jwtgate", error="invalid_token", error_description="',
  )
}

/** Every token a suite sent, to check that no log line ever contains one. */
export class TokenLedger {
  readonly #tokens = new Set<string>()

  /** Records and returns `token`. */
  add(token: string): string {
    this.#tokens.add(token)
    return token
  }

  /** Asserts `output` holds neither a whole token nor any token's signature. */
  expectAbsentFrom(output: string): void {
    expect(this.#tokens.size).toBeGreaterThan(0)
    for (const token of this.#tokens) {
      expect(output.includes(token)).toBe(false)
      const signature = token.split('.')[2] ?? ''
      if (signature.length >= 16) expect(output.includes(signature)).toBe(false)
    }
  }
}

/** Polls `probe` every `everyMs` until it returns true, at most `timeoutMs`; returns the elapsed ms. */
export async function pollUntil(
  probe: () => boolean | Promise<boolean>,
  timeoutMs: number,
  everyMs = 100,
): Promise<number> {
  const started = performance.now()
  for (let i = 0; i < Math.ceil(timeoutMs / everyMs); i++) {
    if (await probe()) return performance.now() - started
    await sleep(everyMs)
  }
  throw new Error(`condition not met within ${timeoutMs} ms`)
}

/** A raw HTTP/1.1 response: the bytes on the wire, before any client-side decoding. */
export interface RawResponse {
  readonly status: number
  /** Lower-cased names; repeated headers joined with `, `. */
  readonly headers: Record<string, string>
  /** The message body after transfer decoding (chunked), still content-encoded. */
  readonly body: Uint8Array
}

function dechunk(data: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = []
  let at = 0
  for (let i = 0; i < 100_000; i++) {
    const eol = data.indexOf(0x0a, at)
    if (eol < 0) throw new Error('truncated chunked body')
    const size = parseInt(new TextDecoder().decode(data.subarray(at, eol)).trim(), 16)
    if (!Number.isFinite(size)) throw new Error('bad chunk size')
    if (size === 0) return concat(parts)
    parts.push(data.subarray(eol + 1, eol + 1 + size))
    at = eol + 1 + size + 2
  }
  throw new Error('too many chunks')
}

/**
 * Sends one GET over a fresh socket with `Connection: close` and reads the response verbatim, so
 * a test sees exactly the Content-Encoding, Content-Length and bytes a client would.
 */
export function rawGet(
  url: string,
  headers: Readonly<Record<string, string>>,
  timeoutMs = 5000,
): Promise<RawResponse> {
  const { hostname, port, pathname, search } = new URL(url)
  const lines = [
    `GET ${pathname}${search} HTTP/1.1`,
    `Host: ${hostname}:${port}`,
    'Connection: close',
  ]
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`)
  return new Promise((resolve, reject) => {
    const chunks: Uint8Array[] = []
    const socket = connect(
      { host: hostname, port: Number(port) },
      () => socket.write(`${lines.join('\r\n')}\r\n\r\n`),
    )
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error(`no complete response from ${url} within ${timeoutMs} ms`))
    }, timeoutMs)
    socket.on('data', (chunk: Uint8Array) => chunks.push(new Uint8Array(chunk)))
    socket.on('error', (e) => {
      clearTimeout(timer)
      reject(e)
    })
    socket.on('close', () => {
      clearTimeout(timer)
      try {
        const data = concat(chunks)
        const end = indexOfCrlfCrlf(data)
        if (end < 0) throw new Error('no header block')
        const [statusLine = '', ...headerLines] = new TextDecoder().decode(data.subarray(0, end))
          .split('\r\n')
        const out: Record<string, string> = {}
        for (const line of headerLines) {
          const colon = line.indexOf(':')
          const name = line.slice(0, colon).trim().toLowerCase()
          const value = line.slice(colon + 1).trim()
          out[name] = out[name] === undefined ? value : `${out[name]}, ${value}`
        }
        let body = data.subarray(end + 4)
        if ((out['transfer-encoding'] ?? '').toLowerCase().includes('chunked')) body = dechunk(body)
        resolve({ status: Number(statusLine.split(' ')[1]), headers: out, body })
      } catch (e) {
        reject(e)
      }
    })
  })
}
