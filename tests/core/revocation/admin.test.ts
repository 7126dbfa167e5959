import assert from 'node:assert/strict'
import type { Revocation } from '../../../src/core/revocation/entry.ts'
import {
  RefusedCredentials,
  revocationsResponse,
  type RevocationWrites,
} from '../../../src/core/revocation/admin.ts'
import { createLogger } from '../../../src/core/log.ts'
import { test } from '../../helpers/t.ts'

const TOKEN = 'a'.repeat(40)
const NOW = 1_800_000_000_000

function writes(overrides: Partial<RevocationWrites> = {}) {
  const stored: Revocation[] = []
  /** The audit trail: every log line, parsed. */
  const lines: Record<string, unknown>[] = []
  return {
    stored,
    lines,
    writes: {
      logger: createLogger({
        level: 'info',
        format: 'json',
        sink: (line) => lines.push(JSON.parse(line)),
      }),
      token: TOKEN,
      revoke: (entry: Revocation) => {
        stored.push(entry)
        return Promise.resolve()
      },
      now: () => NOW,
      maxLifetimeSec: 3600,
      beforeMarginSec: 0,
      refused: new RefusedCredentials(),
      ...overrides,
    } satisfies RevocationWrites,
  }
}

const post = (body: string, auth = `Bearer ${TOKEN}`, method = 'POST') =>
  new Request('http://admin/revocations', {
    method,
    headers: auth === '' ? {} : { authorization: auth },
    body: method === 'GET' ? undefined : body,
  })

test('POST /revocations stores each entry and answers 201 with what was stored', async () => {
  const w = writes()
  const response = await revocationsResponse(
    post(JSON.stringify([{ sub: 'alice' }, { jti: 'j', exp: 1_800_000_100 }])),
    w.writes,
  )
  assert.equal(response.status, 201)
  assert.deepEqual(await response.json(), {
    revoked: [
      { sub: 'alice', before: 1_800_000_001, until: 1_800_000_001 + 3600 + 3600 },
      { jti: 'j', until: 1_800_000_100 + 3600 },
    ],
  })
  assert.equal(w.stored.length, 2)
  // The audit trail: one line per revocation stored, its public form.
  assert.deepEqual(w.lines.map(({ time: _, ...line }) => line), [
    {
      level: 'info',
      event: 'revoked',
      sub: 'alice',
      before: 1_800_000_001,
      until: 1_800_000_001 + 3600 + 3600,
    },
    { level: 'info', event: 'revoked', jti: 'j', until: 1_800_000_100 + 3600 },
  ])
})

test('POST /revocations of a token (its digest, as `jwtgate revoke` sends it): the audit trail has the digest', async () => {
  const w = writes()
  const digest = 'Qm9vdHN0cmFwcGVkLWRpZ2VzdC1vZi1hLXRva2VuLTE'
  const response = await revocationsResponse(
    post(JSON.stringify({ token_sha256: digest, exp: 1_800_000_100 })),
    w.writes,
  )
  assert.equal(response.status, 201)
  assert.deepEqual(w.lines.map(({ time: _, ...line }) => line), [
    { level: 'info', event: 'revoked', token_sha256: digest, until: 1_800_000_100 + 3600 },
  ])
})

test('POST /revocations without the admin credential: 403 when none is configured, else 401', async () => {
  const none = writes({ token: undefined })
  const disabled = await revocationsResponse(post('{"sub":"a"}'), none.writes)
  assert.equal(disabled.status, 403)
  assert.equal((await disabled.json()).code, 'admin_writes_disabled')
  let now = NOW
  const w = writes({ now: () => now })
  const refuse = async (auth: string) => {
    const response = await revocationsResponse(post('{"sub":"a"}', auth), w.writes)
    assert.equal(response.status, 401, auth)
    assert.equal(response.headers.get('www-authenticate'), 'Bearer realm="jwtgate-admin"')
  }
  for (const auth of ['', `Bearer ${TOKEN}x`, `Basic ${TOKEN}`, `Bearer ${TOKEN.slice(1)}`]) {
    await refuse(auth)
  }
  now += 999
  await refuse(`Bearer ${TOKEN}y`)
  now += 1
  await refuse(`Bearer ${TOKEN}z`)
  now += 5000
  await refuse('')
  assert.equal(none.stored.length + w.stored.length, 0)
  // Refused credentials are in the audit trail, at warn, a line a second at most (a client
  // trying credentials cannot flood the log); each line counts those held back before it. No
  // credential is in it.
  assert.deepEqual(
    w.lines.map(({ time: _, ...line }) => line),
    [
      {
        level: 'warn',
        event: 'admin_unauthorized',
        path: '/revocations',
        reason: 'no bearer credential',
      },
      {
        level: 'warn',
        event: 'admin_unauthorized',
        path: '/revocations',
        reason: 'a wrong bearer credential',
        held_back: 4,
        // `Bearer …x`, `Bearer …` (one short), `Bearer …y`; `Basic` gives no bearer credential.
        held_back_wrong: 3,
      },
      {
        level: 'warn',
        event: 'admin_unauthorized',
        path: '/revocations',
        reason: 'no bearer credential',
      },
    ],
  )
  assert.ok(!JSON.stringify(w.lines).includes(TOKEN.slice(1)))
})

test('POST /revocations: bad bodies are 400, large ones 413, other methods 405, no store 409', async () => {
  const w = writes()
  for (const body of ['not json', '{}', '[]', '{"sub":"a","exp":1}', '[{"sub":"a"},{"jti":""}]']) {
    const response = await revocationsResponse(post(body), w.writes)
    assert.equal(response.status, 400, body)
    assert.equal((await response.json()).code, 'bad_revocation')
  }
  assert.equal(w.stored.length, 0, 'a list with a bad entry stores none')
  // Entries that would be over already revoke nothing: refused, not answered "revoked".
  const nowSec = NOW / 1000
  for (
    const body of [
      '{"sub":"alice","until":1}',
      `{"jti":"x","exp":${nowSec - 7200}}`,
      `{"issuer":"https://i","until":${nowSec}}`,
      `[{"sub":"bob"},{"token_sha256":"${'A'.repeat(43)}","until":${nowSec - 1}}]`,
    ]
  ) {
    const response = await revocationsResponse(post(body), w.writes)
    assert.equal(response.status, 400, body)
    assert.match((await response.json()).detail, /over already/, body)
  }
  assert.equal(w.stored.length, 0)
  const large = await revocationsResponse(post(`{"sub":"${'x'.repeat(70_000)}"}`), w.writes)
  assert.equal(large.status, 413)
  const get = await revocationsResponse(post('', `Bearer ${TOKEN}`, 'GET'), w.writes)
  assert.equal(get.status, 405)
  assert.equal(get.headers.get('allow'), 'POST')
  const noStore = await revocationsResponse(
    post('{"sub":"a"}'),
    writes({ revoke: undefined }).writes,
  )
  assert.equal(noStore.status, 409)
})

test('POST /revocations: a store that fails is 503, saying how many were stored', async () => {
  let n = 0
  const w = writes({
    revoke: () => (++n === 2 ? Promise.reject(new Error('Command timed out')) : Promise.resolve()),
  })
  const response = await revocationsResponse(
    post('[{"sub":"a"},{"sub":"b"},{"sub":"c"}]'),
    w.writes,
  )
  assert.equal(response.status, 503)
  const body = await response.json()
  assert.equal(body.code, 'revocation_not_stored')
  assert.match(body.detail, /^1 of 3 stored/)
  assert.deepEqual(w.lines.map((l) => [l.level, l.event]), [
    ['info', 'revoked'],
    ['error', 'revocation_not_stored'],
  ])
  assert.equal(w.lines[1]!.stored, 1)
  assert.equal(w.lines[1]!.of, 3)
})

test('POST /revocations: a body that breaks off (the client went away) is 400 bad_revocation, nothing stored, no throw', async () => {
  const w = writes()
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new TextEncoder().encode('[{"sub":"al'))
      controller.error(new Error('connection reset'))
    },
  })
  const request = new Request('http://admin/revocations', {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}` },
    body,
    duplex: 'half',
  } as RequestInit)
  const response = await revocationsResponse(request, w.writes)
  assert.equal(response.status, 400)
  const problem = await response.json()
  assert.equal(problem.code, 'bad_revocation')
  assert.match(problem.detail, /could not be read/)
  assert.equal(w.stored.length, 0)
})
