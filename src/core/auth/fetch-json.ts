/**
 * @module Fetching a small JSON document (a JWK Set, OIDC metadata) safely: https only (http for
 * loopback hosts, or when explicitly allowed), no redirects, a size cap and a timeout.
 */

export const MAX_DOCUMENT_BYTES = 1024 * 1024

/** True for `localhost`, 127.0.0.0/8 and ::1. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase()
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)
}

/** Why `url` may not be used to fetch keys, or undefined when it may. */
export function insecureUrlProblem(url: string, allowInsecure: boolean): string | undefined {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return 'is not a valid URL'
  }
  if (parsed.protocol === 'https:') return undefined
  if (parsed.protocol !== 'http:') return 'must be an https:// URL'
  if (allowInsecure || isLoopbackHost(parsed.hostname)) return undefined
  return 'must be an https:// URL (http is allowed only for loopback hosts, or with JWTGATE_ALLOW_INSECURE_JWKS=true)'
}

/** A fetch failure with a message safe to log. */
/**
 * A key document's URL as logs and `jwtgate check` show it: without user and password, and
 * without its query (`?…`), where an API key may travel.
 */
export function describeUrl(url: string): string {
  let u: URL
  try {
    u = new URL(url)
  } catch {
    return '(not a URL)'
  }
  return `${u.protocol}//${u.host}${u.pathname}${u.search === '' ? '' : '?…'}`
}

export class FetchDocumentError extends Error {
  override readonly name = 'FetchDocumentError'
}

export async function readCapped(
  body: ReadableStream<Uint8Array>,
  maxBytes: number,
): Promise<string> {
  const reader = body.getReader()
  const chunks: Uint8Array[] = []
  let total = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    total += value.byteLength
    if (total > maxBytes) {
      await reader.cancel()
      throw new FetchDocumentError(`response is larger than ${maxBytes} bytes`)
    }
    chunks.push(value)
  }
  const bytes = new Uint8Array(total)
  let offset = 0
  for (const chunk of chunks) {
    bytes.set(chunk, offset)
    offset += chunk.byteLength
  }
  return new TextDecoder().decode(bytes)
}

/**
 * How old a document already is, in ms, when the fetch function serves a copy it keeps — the
 * workers' primary shares one fetch of a key set among its workers within the cooldown
 * (cli/workers/shared.ts) — set by that function on the Response it returns. Never read from a
 * header: an `Age` a server or a CDN sends would shorten the cooldown, and with it bring a fetch
 * per request that names an unknown `kid`.
 */
export const DOCUMENT_AGE: unique symbol = Symbol('jwtgate.documentAgeMs')

/** A fetched document, and how old it was on arrival (0 unless the fetch said, DOCUMENT_AGE). */
export interface FetchedDocument {
  readonly value: unknown
  readonly ageMs: number
}

/** GETs `url` and parses its JSON body; rejects with a FetchDocumentError on any problem. */
export async function fetchJson(
  fetchImpl: typeof fetch,
  url: string,
  timeoutMs: number,
  maxBytes = MAX_DOCUMENT_BYTES,
): Promise<unknown> {
  return (await fetchJsonDocument(fetchImpl, url, timeoutMs, maxBytes)).value
}

/** fetchJson, with the document's age as the fetch function gave it (DOCUMENT_AGE). */
export async function fetchJsonDocument(
  fetchImpl: typeof fetch,
  url: string,
  timeoutMs: number,
  maxBytes = MAX_DOCUMENT_BYTES,
): Promise<FetchedDocument> {
  let response: Response
  try {
    response = await fetchImpl(url, {
      headers: { accept: 'application/json' },
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    })
  } catch (e) {
    const timedOut = e instanceof Error && (e.name === 'TimeoutError' || e.name === 'AbortError')
    throw new FetchDocumentError(
      timedOut ? `no response within ${timeoutMs} ms` : 'connection failed',
    )
  }
  if (response.status !== 200) {
    await response.body?.cancel()
    const redirect = response.status >= 300 && response.status < 400
      ? ' (redirects are not followed)'
      : ''
    throw new FetchDocumentError(`HTTP status ${response.status}${redirect}`)
  }
  const length = Number(response.headers.get('content-length') ?? '0')
  if (length > maxBytes) {
    await response.body?.cancel()
    throw new FetchDocumentError(`response is larger than ${maxBytes} bytes`)
  }
  let text: string
  try {
    text = response.body === null ? '' : await readCapped(response.body, maxBytes)
  } catch (e) {
    if (e instanceof FetchDocumentError) throw e
    throw new FetchDocumentError('the response body could not be read in time')
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw new FetchDocumentError('response is not valid JSON')
  }
  const age = (response as Response & { [DOCUMENT_AGE]?: unknown })[DOCUMENT_AGE]
  return { value, ageMs: typeof age === 'number' && age > 0 && Number.isFinite(age) ? age : 0 }
}
