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
  | 'token_revoked'
  | 'token_too_old'

/** Every stable code a gateway response can carry. */
export type ErrorCode =
  | TokenErrorCode
  | 'insufficient_scope'
  | 'insufficient_role'
  | 'claim_mismatch'
  | 'no_route'
  | 'keys_unavailable'
  | 'revocations_unavailable'
  | 'upstream_unreachable'
  | 'upstream_timeout'
  | 'client_closed'
  | 'bad_path'
  | 'bad_host'
  | 'bad_content_length'
  | 'trailers_not_supported'
  | 'transfer_coding_not_supported'
  | 'method_override_not_supported'
  | 'method_not_allowed'
  | 'payload_too_large'
  | 'request_timeout'
  | 'headers_too_large'
  | 'rate_limited'
  | 'cors_rejected'
  | 'untrusted_caller'
  | 'auth_headers_conflict'
  | 'auth_headers_missing'
  | 'override_header_not_supported'
  | 'websocket_not_allowed'
  | 'websocket_unsupported'
  | 'bad_upgrade'
  | 'origin_rejected'
  | 'too_many_connections'
  | 'shutting_down'
  | 'internal_error'

/**
 * Base of all request-time errors: a stable `code`, an HTTP `status`, a generic `detail`. The
 * gateway turns each into a problem+json response itself (`type`, `title`, `status`, `detail`,
 * `code`); anything else thrown on the request path becomes a generic 500.
 *
 * @example
 * import { GatewayError } from 'jwtgate'
 * const e = new GatewayError('internal_error', 500, 'Something went wrong.')
 * console.log(e.code, e.status) // internal_error 500
 */
export class GatewayError extends Error {
  /** The class name, for logs and `String(error)`. */
  override readonly name: string = 'GatewayError'
  /**
   * Creates the error; the gateway throws these itself.
   *
   * @param code The stable reason code, sent as the problem's `code`.
   * @param status The HTTP status of the response.
   * @param detail A generic explanation, safe to send to the client (never a token or a secret).
   * @param options `cause`: the underlying error, kept for logs.
   */
  constructor(
    readonly code: ErrorCode,
    readonly status: number,
    readonly detail: string,
    options?: { cause?: unknown },
  ) {
    super(detail, options)
  }
}

/**
 * The request carries no usable token, or one that does not verify (401, RFC 6750 §3.1). The
 * response's `WWW-Authenticate` says `error="invalid_token"` (no error for `token_missing`).
 *
 * @example
 * import { TokenError } from 'jwtgate'
 * const e = new TokenError('token_expired', 'The token has expired.')
 * console.log(e.status) // 401
 */
export class TokenError extends GatewayError {
  /** The class name, for logs and `String(error)`. */
  override readonly name = 'TokenError'
  /**
   * Creates the error; the gateway throws these itself.
   *
   * @param code Why the token was refused.
   * @param detail A generic explanation, safe to send to the client.
   * @param options `cause`: the underlying error (jose's), kept for logs.
   */
  constructor(code: TokenErrorCode, detail: string, options?: { cause?: unknown }) {
    super(code, 401, detail, options)
  }
}

/**
 * The token is valid but lacks what the route requires (403: `insufficient_scope`,
 * `insufficient_role` or `claim_mismatch`). The response's `WWW-Authenticate` names the scopes.
 *
 * @example
 * import { ForbiddenError } from 'jwtgate'
 * const e = new ForbiddenError('insufficient_scope', 'The token lacks a required scope.', ['orders:write'])
 * console.log(e.status, e.scopes) // 403 [ 'orders:write' ]
 */
export class ForbiddenError extends GatewayError {
  /** The class name, for logs and `String(error)`. */
  override readonly name = 'ForbiddenError'
  /**
   * Creates the error; the gateway throws these itself.
   *
   * @param code Which kind of requirement failed.
   * @param detail A generic explanation, safe to send to the client.
   */
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

/**
 * No key set has loaded yet (JWKS or OIDC still unreachable since start): 503 `keys_unavailable`
 * with `Retry-After`. Once keys have loaded, a failing refresh keeps the last good set instead.
 * Also 503 `revocations_unavailable`: strict revocations, and the list cannot be confirmed.
 *
 * @example
 * import { UnavailableError } from 'jwtgate'
 * const e = new UnavailableError('The signing keys are not available yet.', 5)
 * console.log(e.status, e.retryAfterSeconds) // 503 5
 */
export class UnavailableError extends GatewayError {
  /** The class name, for logs and `String(error)`. */
  override readonly name = 'UnavailableError'
  /**
   * Creates the error; the gateway throws these itself.
   *
   * @param detail A generic explanation, safe to send to the client.
   * @param retryAfterSeconds Sent as `Retry-After` (default 1).
   * @param code What is unavailable (default `keys_unavailable`).
   */
  constructor(
    detail: string,
    readonly retryAfterSeconds = 1,
    code:
      | 'keys_unavailable'
      | 'revocations_unavailable'
      | 'too_many_connections'
      | 'shutting_down' = 'keys_unavailable',
  ) {
    super(code, 503, detail)
  }
}

/**
 * The upstream could not be reached (502 `upstream_unreachable`) or did not send its response
 * headers in time (504 `upstream_timeout`). The detail is fixed: the upstream's address and the
 * underlying error (`cause`) go to the log, never to the client.
 *
 * @example
 * import { UpstreamError } from 'jwtgate'
 * const e = new UpstreamError('upstream_timeout')
 * console.log(e.status, e.detail) // 504 The upstream did not send response headers in time.
 */
export class UpstreamError extends GatewayError {
  /** The class name, for logs and `String(error)`. */
  override readonly name = 'UpstreamError'
  /**
   * Creates the error; the gateway throws these itself.
   *
   * @param code Unreachable (502) or too slow (504).
   * @param options `cause`: the underlying error, kept for logs.
   */
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

/**
 * The request itself is unacceptable: an ambiguous path, a bad Host, announced trailers (400), or
 * an unknown method (405). Refused before routing: no route, token or upstream is consulted.
 *
 * @example
 * import { BadRequestError } from 'jwtgate'
 * const e = new BadRequestError('bad_path', 'The request path is ambiguous.')
 * console.log(e.status) // 400
 */
export class BadRequestError extends GatewayError {
  /** The class name, for logs and `String(error)`. */
  override readonly name = 'BadRequestError'
  /**
   * Creates the error; the gateway throws these itself.
   *
   * @param code What is wrong with the request; `method_not_allowed` gives 405, the others 400.
   * @param detail A generic explanation, safe to send to the client.
   */
  constructor(
    code:
      | 'bad_path'
      | 'bad_host'
      | 'bad_content_length'
      | 'trailers_not_supported'
      | 'transfer_coding_not_supported'
      | 'method_override_not_supported'
      | 'method_not_allowed'
      | 'auth_headers_conflict'
      | 'auth_headers_missing'
      | 'override_header_not_supported',
    detail: string,
  ) {
    super(code, code === 'method_not_allowed' ? 405 : 400, detail)
  }
}

/** A named rate limit's refusal: which limit, and its `RateLimit-Policy` and `RateLimit` fields. */
export interface RateLimitFields {
  /** The limit that refused (the one with the longest wait). */
  readonly limit: string
  /** `RateLimit-Policy`: the policies of the limits that refused. */
  readonly policy: string
  /** `RateLimit`: their state (no room left, and the seconds until there is). */
  readonly state: string
}

/**
 * A limit the request went over: body size (413), body idle (408), header size (431), rate (429).
 *
 * @example
 * import { LimitError } from 'jwtgate'
 * const e = new LimitError('rate_limited', 'Too many requests; retry later.', 30)
 * console.log(e.status, e.retryAfterSeconds) // 429 30
 */
export class LimitError extends GatewayError {
  /** The class name, for logs and `String(error)`. */
  override readonly name = 'LimitError'
  /**
   * Creates the error; the gateway throws these itself.
   *
   * @param code Which limit: `rate_limited` gives 429, the others their own status.
   * @param detail A generic explanation, safe to send to the client.
   */
  constructor(
    code: 'payload_too_large' | 'request_timeout' | 'headers_too_large' | 'rate_limited',
    detail: string,
    /** For 429: seconds until a request would be allowed (`Retry-After`). */
    readonly retryAfterSeconds?: number,
    /** For 429 by a named limit (`rateLimits:`): which, and its RateLimit fields. */
    readonly fields?: RateLimitFields,
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
  /** Where: a variable name (`JWTGATE_UPSTREAM`) or a path in the file (`routes[2].upstream`). */
  readonly path: string
  /** What is wrong, in a sentence. */
  readonly message: string
}

/**
 * The configuration is invalid; `issues` lists every problem found, not just the first. Thrown
 * (as a rejection) by `loadConfig`; its `message` has one `path: message` line per issue.
 *
 * @example
 * import { ConfigError, loadConfig } from 'jwtgate'
 * try {
 *   await loadConfig(env)
 * } catch (e) {
 *   if (!(e instanceof ConfigError)) throw e
 *   for (const issue of e.issues) console.error(`${issue.path}: ${issue.message}`)
 *   return 1 // refuse to start
 * }
 */
export class ConfigError extends Error {
  /** The class name, for logs and `String(error)`. */
  override readonly name = 'ConfigError'
  /** A stable code, as request-time errors have. */
  readonly code = 'config_invalid'
  /**
   * Creates the error; `loadConfig` throws it.
   *
   * @param issues Every problem found.
   */
  constructor(readonly issues: readonly ConfigIssue[]) {
    super(issues.map((i) => `${i.path}: ${i.message}`).join('\n'))
  }
}
