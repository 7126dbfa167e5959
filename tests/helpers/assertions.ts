/**
 * Assertions shared by the end-to-end and security suites (not collected: no `.test.`): RFC 9457
 * problem responses and RFC 6750 challenges, and what a response or a log must never reveal.
 */
import { expect } from 'bun:test'
import type { RawResponse } from './raw-http.ts'

/** What a rejection must never reveal: markers planted in hostile tokens and requests. */
export const MARKER = 'mallory'

const CHALLENGE_INVALID = 'Bearer realm="jwtgate", error="invalid_token", error_description="'

interface Rejection {
  readonly status: number
  readonly contentType: string | null
  readonly challenge: string | null
  readonly text: string
}

function check(
  r: Rejection,
  status: number,
  code: string,
  error: 'invalid_token' | 'none' | 'any',
): void {
  expect({ status: r.status, body: r.text }).toMatchObject({ status })
  expect(r.contentType).toBe('application/problem+json')
  const body = JSON.parse(r.text) as Record<string, unknown>
  expect(body).toMatchObject({ status, code, type: `urn:jwtgate:problem:${code}` })
  if (error === 'invalid_token') expect(r.challenge ?? '').toStartWith(CHALLENGE_INVALID)
  if (error === 'none') expect(r.challenge).toBe('Bearer realm="jwtgate"')
  // A generic description: never an echoed claim, header value or library message.
  expect(r.text.toLowerCase()).not.toContain(MARKER)
  expect((r.challenge ?? '').toLowerCase()).not.toContain(MARKER)
}

/** A fetch Response that is `status` with problem `code`; for 401, the RFC 6750 challenge too. */
export async function expectRejected(
  response: Response,
  code: string,
  status = 401,
): Promise<void> {
  const text = await response.text()
  check(
    {
      status: response.status,
      contentType: response.headers.get('content-type'),
      challenge: response.headers.get('www-authenticate'),
      text,
    },
    status,
    code,
    status === 401 ? (code === 'token_missing' ? 'none' : 'invalid_token') : 'any',
  )
}

/** The same for a response read off a raw socket. */
export function expectRawRejected(
  response: RawResponse | undefined,
  code: string,
  status = 401,
): void {
  expect(response).toBeDefined()
  check(
    {
      status: response!.status,
      contentType: response!.headers.get('content-type'),
      challenge: response!.headers.get('www-authenticate'),
      text: response!.text(),
    },
    status,
    code,
    status === 401 ? (code === 'token_missing' ? 'none' : 'invalid_token') : 'any',
  )
}

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
  expect(challenge).toStartWith(CHALLENGE_INVALID)
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
