/** Assertions shared by the security corpus (not collected: no `.test.`). */
import { expect } from 'bun:test'
import type { RawResponse } from './raw.ts'

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
