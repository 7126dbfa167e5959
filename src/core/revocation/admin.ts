/**
 * @module `POST /revocations` on the admin listener: revokes tokens, subjects or issuers
 * (entry.ts's JSON, one object or a list of up to 1000). Writes need the admin credential
 * (JWTGATE_ADMIN_TOKEN, a bearer secret): without one configured the listener takes no writes
 * at all (403), and a wrong or missing one is 401. A revocation is answered 201 only once it is
 * stored where every gateway reads it (Redis, or the revocations file); when it cannot be, 503.
 * Every write is in the log, as an audit trail: each revocation stored (`revoked`, at info, its
 * public form: no token, only its digest), refused credentials (`admin_unauthorized`, at warn, at
 * most one line a second: RefusedCredentials) and a store that failed (`revocation_not_stored`,
 * at error).
 */
import { FetchDocumentError, readCapped } from '../auth/fetch-json.ts'
import type { Logger } from '../log.ts'
import { parseNewRevocation, type Revocation, revocationJson } from './entry.ts'

/** What the admin listener needs to take revocations. */
export interface RevocationWrites {
  /** The bearer credential; undefined: writes are refused. */
  readonly token: string | undefined
  /**
   * Stores an entry where the gateways read it and puts it in force here; rejects when it cannot
   * be stored. Undefined: no revocation store is configured.
   */
  readonly revoke: ((entry: Revocation) => Promise<void>) | undefined
  /** The clock, in milliseconds. */
  readonly now: () => number
  /** Fills in `until` for entries that give none (see entry.ts). */
  readonly maxLifetimeSec: number
  /** Added to `before` for subject and issuer entries that give none (RevocationsConfig). */
  readonly beforeMarginSec: number
  /** Where the audit trail goes. */
  readonly logger: Logger
  /** The listener's refused credentials (one for the listener's life, not one per request). */
  readonly refused: RefusedCredentials
}

/**
 * Refused admin credentials in the audit trail: one `admin_unauthorized` line a second at most,
 * so that a client trying credentials (or any client reaching the listener) cannot flood the log.
 * A line counts the refusals held back since the one before it (`held_back`) and how many of
 * those presented a wrong credential (`held_back_wrong`: guesses, not a missing header). Without
 * a timer, the count of a last burst shows on the line of the next refusal.
 */
export class RefusedCredentials {
  #loggedAt = -Infinity
  #heldBack = 0
  #heldBackWrong = 0

  /** Logs the refusal (a wrong credential, else none given) at `now` (ms), or counts it. */
  log(logger: Logger, now: number, wrong: boolean): void {
    if (now - this.#loggedAt < 1000 && now >= this.#loggedAt) {
      this.#heldBack++
      if (wrong) this.#heldBackWrong++
      return
    }
    const heldBack = this.#heldBack
    const heldBackWrong = this.#heldBackWrong
    this.#loggedAt = now
    this.#heldBack = 0
    this.#heldBackWrong = 0
    logger.log('warn', 'admin_unauthorized', {
      path: '/revocations',
      reason: wrong ? 'a wrong bearer credential' : 'no bearer credential',
      ...(heldBack > 0 ? { held_back: heldBack, held_back_wrong: heldBackWrong } : {}),
    })
  }
}

const MAX_BODY = 65_536
const MAX_ENTRIES = 1000
const REALM = 'Bearer realm="jwtgate-admin"'

function problem(
  status: number,
  code: string,
  detail: string,
  headers: Record<string, string> = {},
) {
  return new Response(JSON.stringify({ status, code, detail }), {
    status,
    headers: {
      'content-type': 'application/problem+json',
      'cache-control': 'no-store',
      ...headers,
    },
  })
}

/** Equal credentials, compared without a timing difference (digests of both, byte by byte). */
async function sameSecret(given: string, expected: string): Promise<boolean> {
  const encode = (s: string) => crypto.subtle.digest('SHA-256', new TextEncoder().encode(s))
  const [a, b] = (await Promise.all([encode(given), encode(expected)])).map((d) =>
    new Uint8Array(d)
  )
  let diff = 0
  for (let i = 0; i < a!.length; i++) diff |= a![i]! ^ b![i]!
  return diff === 0
}

/** The body as text; undefined when it is larger than MAX_BODY, null when it breaks off. */
async function readBody(request: Request): Promise<string | undefined | null> {
  if (request.body === null) return ''
  try {
    return await readCapped(request.body, MAX_BODY)
  } catch (e) {
    if (e instanceof FetchDocumentError) return undefined
    // The client went away mid-body, or sent a broken one: its doing, no internal error.
    return null
  }
}

/** Answers a request to `/revocations` on the admin listener. */
export async function revocationsResponse(
  request: Request,
  writes: RevocationWrites,
): Promise<Response> {
  if (request.method !== 'POST') {
    return problem(405, 'method_not_allowed', 'Use POST to revoke.', { allow: 'POST' })
  }
  if (writes.token === undefined) {
    return problem(
      403,
      'admin_writes_disabled',
      'The admin listener takes no writes: set JWTGATE_ADMIN_TOKEN to allow them.',
    )
  }
  const auth = request.headers.get('authorization') ?? ''
  const given = /^Bearer +(\S+)\s*$/i.exec(auth)?.[1]
  if (given === undefined || !(await sameSecret(given, writes.token))) {
    writes.refused.log(writes.logger, writes.now(), given !== undefined)
    await request.body?.cancel()
    return problem(401, 'admin_unauthorized', 'A valid admin bearer token is required.', {
      'www-authenticate': REALM,
    })
  }
  if (writes.revoke === undefined) {
    return problem(
      409,
      'no_revocation_store',
      'No revocation store is configured: set JWTGATE_REDIS_URL or JWTGATE_REVOCATIONS_FILE.',
    )
  }
  const text = await readBody(request)
  if (text === undefined) return problem(413, 'payload_too_large', `At most ${MAX_BODY} bytes.`)
  if (text === null) return problem(400, 'bad_revocation', 'The body could not be read to its end.')
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return problem(400, 'bad_revocation', 'The body is not JSON.')
  }
  const items = Array.isArray(value) ? value : [value]
  if (items.length === 0 || items.length > MAX_ENTRIES) {
    return problem(400, 'bad_revocation', `Give from 1 to ${MAX_ENTRIES} revocations.`)
  }
  const now = Math.floor(writes.now() / 1000)
  const entries: Revocation[] = []
  for (const [i, item] of items.entries()) {
    const entry = parseNewRevocation(item, now, writes.maxLifetimeSec, writes.beforeMarginSec)
    if (typeof entry === 'string') {
      return problem(400, 'bad_revocation', Array.isArray(value) ? `[${i}]: ${entry}` : entry)
    }
    entries.push(entry)
  }
  const stored: Record<string, string | number>[] = []
  for (const entry of entries) {
    try {
      await writes.revoke(entry)
    } catch (e) {
      writes.logger.log('error', 'revocation_not_stored', {
        stored: stored.length,
        of: entries.length,
        error: e instanceof Error ? e.name : 'unknown',
      })
      return problem(
        503,
        'revocation_not_stored',
        `${stored.length} of ${entries.length} stored; the rest could not be (${
          e instanceof Error ? e.message.slice(0, 200) : 'failed'
        }). Retry.`,
      )
    }
    const json = revocationJson(entry)
    writes.logger.log('info', 'revoked', json)
    stored.push(json)
  }
  return new Response(JSON.stringify({ revoked: stored }), {
    status: 201,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
  })
}
