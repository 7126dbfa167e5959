/**
 * @module The one place where an error becomes an HTTP response: RFC 6750 `WWW-Authenticate` for
 * 401/403 and an RFC 9457 `application/problem+json` body carrying our stable `code`.
 */
import { ForbiddenError, GatewayError, LimitError, TokenError, UnavailableError } from './errors.ts'
import type { Logger } from './log.ts'
import { ALLOWED_METHODS } from './routing/method.ts'

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  413: 'Content Too Large',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  499: 'Client Closed Request',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
}

const REALM = 'jwtgate'
const INTERNAL = new GatewayError(
  'internal_error',
  500,
  'The gateway failed to handle the request.',
)

/** RFC 7230 quoted-string: escape backslash and double quote. */
function quote(value: string): string {
  return `"${value.replace(/[\\"]/g, '\\$&')}"`
}

/** The `WWW-Authenticate` challenge for an error, or undefined when it needs none. */
export function challenge(error: GatewayError): string | undefined {
  if (error instanceof TokenError) {
    // RFC 6750 §3.1: a request without any token gets no error attribute.
    if (error.code === 'token_missing') return `Bearer realm=${quote(REALM)}`
    return `Bearer realm=${quote(REALM)}, error="invalid_token", error_description=${
      quote(error.detail)
    }`
  }
  if (error instanceof ForbiddenError) {
    const scope = error.scopes.length > 0 ? `, scope=${quote(error.scopes.join(' '))}` : ''
    return `Bearer realm=${quote(REALM)}, error="insufficient_scope", error_description=${
      quote(error.detail)
    }${scope}`
  }
  return undefined
}

/**
 * The answer to a failure outside the request pipeline (the admin listener; a handler a server
 * adapter serves that throws): a GatewayError's own response; anything else the generic 500,
 * logged as `internal_error` with the error's name only (its message may carry a secret) and
 * `fields`. Both under a new request id, so that the answer and the log line meet.
 */
export function failureResponse(
  thrown: unknown,
  logger: Logger | undefined,
  fields?: Readonly<Record<string, string>>,
): Response {
  const requestId = crypto.randomUUID()
  if (!(thrown instanceof GatewayError)) {
    const error = thrown instanceof Error ? thrown.name : 'unknown'
    logger?.log('error', 'internal_error', { request_id: requestId, ...fields, error })
  }
  return errorResponse(thrown, requestId)
}

/**
 * Turns anything thrown on the request path into a problem+json Response. Unknown errors become
 * a generic 500: library messages never reach the client.
 */
export function errorResponse(thrown: unknown, requestId?: string): Response {
  const error = thrown instanceof GatewayError ? thrown : INTERNAL
  const headers = new Headers({
    'content-type': 'application/problem+json',
    'cache-control': 'no-store',
  })
  const auth = challenge(error)
  if (auth !== undefined) headers.set('www-authenticate', auth)
  if (error instanceof UnavailableError) headers.set('retry-after', String(error.retryAfterSeconds))
  if (error instanceof LimitError && error.retryAfterSeconds !== undefined) {
    headers.set('retry-after', String(error.retryAfterSeconds))
    if (error.fields !== undefined) {
      headers.set('ratelimit-policy', error.fields.policy)
      headers.set('ratelimit', error.fields.state)
    }
  }
  if (error.code === 'method_not_allowed') headers.set('allow', ALLOWED_METHODS.join(', '))
  if (requestId !== undefined) headers.set('x-request-id', requestId)
  const body = {
    type: `urn:jwtgate:problem:${error.code}`,
    title: TITLES[error.status] ?? 'Error',
    status: error.status,
    detail: error.detail,
    code: error.code,
  }
  const bytes = new TextEncoder().encode(JSON.stringify(body))
  headers.set('content-length', String(bytes.byteLength))
  return new Response(bytes, { status: error.status, headers })
}
