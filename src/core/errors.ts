/**
 * @module The gateway's error hierarchy: every failure is data (a stable `code`, an HTTP status)
 * until `respond.ts` turns it into a Response.
 */

/** Stable reason codes for a rejected token (all 401). */
export type TokenErrorCode =
  | 'token_missing'
  | 'token_malformed'
  | 'bad_signature'
  | 'token_expired'
  | 'token_not_yet_valid'
  | 'wrong_issuer'
  | 'wrong_audience'
  | 'alg_not_allowed'
  | 'unknown_key'
  | 'claim_missing'
  | 'claim_invalid'
  | 'wrong_type'

/** Every stable code a gateway response can carry. */
export type ErrorCode =
  | TokenErrorCode
  | 'insufficient_scope'
  | 'insufficient_role'
  | 'claim_mismatch'
  | 'no_route'
  | 'keys_unavailable'
  | 'upstream_unreachable'
  | 'upstream_timeout'
  | 'client_closed'
  | 'bad_path'
  | 'bad_host'
  | 'trailers_not_supported'
  | 'method_not_allowed'
  | 'payload_too_large'
  | 'request_timeout'
  | 'headers_too_large'
  | 'rate_limited'
  | 'cors_rejected'
  | 'internal_error'

/** Base of all request-time errors: a stable `code`, an HTTP `status`, a generic `detail`. */
export class GatewayError extends Error {
  override readonly name: string = 'GatewayError'
  constructor(
    readonly code: ErrorCode,
    readonly status: number,
    readonly detail: string,
    options?: { cause?: unknown },
  ) {
    super(detail, options)
  }
}

/** The request carries no usable token, or one that does not verify (401, RFC 6750 §3.1). */
export class TokenError extends GatewayError {
  override readonly name = 'TokenError'
  constructor(code: TokenErrorCode, detail: string, options?: { cause?: unknown }) {
    super(code, 401, detail, options)
  }
}

/** The token is valid but lacks what the route requires (403 insufficient_scope). */
export class ForbiddenError extends GatewayError {
  override readonly name = 'ForbiddenError'
  constructor(
    code: 'insufficient_scope' | 'insufficient_role' | 'claim_mismatch',
    detail: string,
    /** Scopes the route requires, advertised in `WWW-Authenticate`. */
    readonly scopes: readonly string[] = [],
    /** Where the failed requirement is in the configuration (`routes[2].require.claims[0]`). */
    readonly requirement?: string,
  ) {
    super(code, 403, detail)
  }
}

/** No route matches the request (404); the upstream is never asked. */
export class NoRouteError extends GatewayError {
  override readonly name = 'NoRouteError'
  constructor() {
    super('no_route', 404, 'No route matches this request.')
  }
}

/** No key set has loaded yet (JWKS or OIDC still unreachable since start): 503. */
export class UnavailableError extends GatewayError {
  override readonly name = 'UnavailableError'
  constructor(detail: string, readonly retryAfterSeconds = 1) {
    super('keys_unavailable', 503, detail)
  }
}

/** The upstream could not be reached (502) or did not answer in time (504). */
export class UpstreamError extends GatewayError {
  override readonly name = 'UpstreamError'
  constructor(code: 'upstream_unreachable' | 'upstream_timeout', options?: { cause?: unknown }) {
    super(
      code,
      code === 'upstream_timeout' ? 504 : 502,
      code === 'upstream_timeout'
        ? 'The upstream did not send response headers in time.'
        : 'The upstream could not be reached.',
      options,
    )
  }
}

/**
 * The client went away before the response (nginx's 499): it disconnected, or its connection was
 * closed for silence mid-upload. Nobody receives the answer; the log and metrics record it.
 */
export class ClientClosedError extends GatewayError {
  override readonly name = 'ClientClosedError'
  constructor(options?: { cause?: unknown }) {
    super('client_closed', 499, 'The client closed the connection before the response.', options)
  }
}

/** The request itself is unacceptable: an ambiguous path, a bad Host, announced trailers (400), or an unknown method (405). */
export class BadRequestError extends GatewayError {
  override readonly name = 'BadRequestError'
  constructor(
    code: 'bad_path' | 'bad_host' | 'trailers_not_supported' | 'method_not_allowed',
    detail: string,
  ) {
    super(code, code === 'method_not_allowed' ? 405 : 400, detail)
  }
}

/** A limit the request went over: body size (413), body idle (408), header size (431), rate (429). */
export class LimitError extends GatewayError {
  override readonly name = 'LimitError'
  constructor(
    code: 'payload_too_large' | 'request_timeout' | 'headers_too_large' | 'rate_limited',
    detail: string,
    /** For 429: seconds until a request would be allowed (`Retry-After`). */
    readonly retryAfterSeconds?: number,
  ) {
    super(
      code,
      {
        payload_too_large: 413,
        request_timeout: 408,
        headers_too_large: 431,
        rate_limited: 429,
      }[code],
      detail,
    )
  }
}

/** One problem in the configuration: where (a variable name or a file path) and what. */
export interface ConfigIssue {
  readonly path: string
  readonly message: string
}

/** The configuration is invalid; `issues` lists every problem found, not just the first. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError'
  readonly code = 'config_invalid'
  constructor(readonly issues: readonly ConfigIssue[]) {
    super(issues.map((i) => `${i.path}: ${i.message}`).join('\n'))
  }
}
