/**
 * @module Request methods: only the upper-case standard methods of RFC 9110 §9 (less CONNECT and
 * TRACE) are accepted, so no rule can be dodged by spelling a method differently — nor by a
 * method override in the query (the override headers are removed: proxy/headers.ts).
 */
import { BadRequestError } from '../errors.ts'
import { hasParameter } from './parameters.ts'

export const ALLOWED_METHODS: readonly string[] = [
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'DELETE',
  'PATCH',
  'OPTIONS',
]

/** Throws 405 method_not_allowed unless `method` is one of ALLOWED_METHODS exactly. */
export function checkMethod(method: string): void {
  if (!ALLOWED_METHODS.includes(method)) throw methodNotAllowed()
}

/** The 405 refusal (an adapter answers it itself for a method a `Request` cannot carry). */
export function methodNotAllowed(): BadRequestError {
  return new BadRequestError('method_not_allowed', 'The request method is not allowed.')
}

/** The parameter Laravel and Symfony read as the method of a POST (so may Express's method-override). */
const OVERRIDE_PARAMETER = '_method'

/**
 * Throws 400 method_override_not_supported for a query holding `_method` in any spelling a backend
 * reads as it (`%5Fmethod`, PHP's `.method`): routes and their rules are decided on the request's
 * method, and a backend honouring the override runs another — `POST /orders/7?_method=DELETE`
 * past a route that lets only admins DELETE. A form body's `_method` is not seen: bodies stream
 * untouched (SECURITY.md).
 */
export function checkMethodOverride(search: string): void {
  // Most queries hold neither, and are not parsed.
  if (search.indexOf('method') < 0 && search.indexOf('%') < 0) return
  if (hasParameter(search, OVERRIDE_PARAMETER)) {
    throw new BadRequestError(
      'method_override_not_supported',
      'A method override in the query (_method) is not supported: send the request with its method.',
    )
  }
}
