/**
 * @module Request methods: only the upper-case standard methods of RFC 9110 §9 (less CONNECT and
 * TRACE) are accepted, so no rule can be dodged by spelling a method differently.
 */
import { BadRequestError } from '../errors.ts'

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
