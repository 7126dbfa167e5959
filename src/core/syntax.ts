/**
 * @module The HTTP grammar rules that configuration and requests share: what a header or cookie
 * name may be (RFC 9110 §5.6.2 `token`). One pattern, used wherever such a name is read.
 */

/** RFC 9110 §5.6.2 token characters: header field names, cookie names, auth schemes. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/

/** True when `text` is a non-empty RFC 9110 token (a valid header or cookie name). */
export function isToken(text: string): boolean {
  return TOKEN.test(text)
}
