/**
 * @module Checks a configuration before it is measured: a fast gateway that lets a bad token
 * through would win for the wrong reason. A valid token must reach the upstream (its body comes
 * back) with X-User-Id set to the token's `sub` although the client sent its own; every bad token
 * must get a 401.
 *
 * The verdict: OK; OK* (every bad token refused, some not with 401); INVALID (a bad token got
 * through: measured, but not compared); BROKEN (the valid token failed: not measured).
 */
import { get } from './http.mjs'
import { subOf } from './tokens.mjs'
import { UPSTREAM_BODY } from './upstream.mjs'

const PATH = '/bench/items?id=42&q=a%20b'
const service = JSON.parse(UPSTREAM_BODY).service

/** Asks again while a gateway still loads its keys (502/503) for up to 3 s. */
async function getReady(port, headers) {
  const until = Date.now() + 3000
  for (;;) {
    const response = await get(port, PATH, headers)
    if (
      (response.status !== 502 && response.status !== 503) || Date.now() > until
    ) return response
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** `auth: false` (bun-passthrough, bun-floor): only that a request gets through. */
export async function check(port, alg, tokens, auth = true) {
  const goods = [tokens.single[alg], ...tokens.pool[alg].slice(0, 3)]
  for (const token of goods) {
    const response = await getReady(port, {
      authorization: `Bearer ${token}`,
      'x-user-id': 'spoofed',
    })
    if (response.status !== 200 || !response.body.includes(service)) {
      return {
        verdict: 'BROKEN',
        detail: `valid token: ${response.status || response.error} ${
          String(response.body ?? '').slice(0, 100)
        }`,
      }
    }
    if (auth && response.headers['x-seen-user-id'] !== subOf(token)) {
      return {
        verdict: 'BROKEN',
        detail: `the upstream saw X-User-Id ${
          JSON.stringify(response.headers['x-seen-user-id'])
        }, not ${subOf(token)}`,
      }
    }
  }
  if (!auth) return { verdict: 'OK', detail: '' }
  const accepted = []
  const other = []
  for (const [name, token] of Object.entries(tokens.bad[alg])) {
    const response = await get(
      port,
      PATH,
      token === null ? {} : { authorization: `Bearer ${token}` },
    )
    if (response.status >= 200 && response.status < 300) accepted.push(name)
    else if (response.status !== 401) {
      other.push(`${name} → ${response.status || response.error}`)
    }
  }
  if (accepted.length > 0) {
    return { verdict: 'INVALID', detail: `accepted: ${accepted.join(', ')}` }
  }
  if (other.length > 0) {
    return {
      verdict: 'OK*',
      detail: `refused, not with 401: ${other.join(', ')}`,
    }
  }
  return {
    verdict: 'OK',
    detail: `valid → 200 + X-User-Id; ${Object.keys(tokens.bad[alg]).length} bad tokens → 401`,
  }
}
