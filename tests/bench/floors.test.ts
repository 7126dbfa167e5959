/**
 * bench/micro/floors.ts's references must do what their rows say, or steps.ts would measure a
 * gateway that skips a duty: each proxies a good request with bun-floor's edits; the minimal JWT
 * gateways refuse a token they have not verified, set the identity from the token, and the one
 * with the header pass drops the client's copies of the claim header in any spelling and
 * refuses headers over the cap.
 */
import assert from 'node:assert/strict'
import { references } from '../../bench/micro/floors.ts'
import { test } from '../helpers/t.ts'

const TOKEN = 'header.payload.signature'

function recorder() {
  const seen: { url: string; headers: Headers; signal: AbortSignal | null | undefined }[] = []
  const upstream = (url: string, init: RequestInit) => {
    seen.push({ url, headers: new Headers(init.headers), signal: init.signal })
    return Promise.resolve(
      new Response('ok', { headers: { connection: 'close', 'keep-alive': 'timeout=5' } }),
    )
  }
  return { seen, upstream }
}

const request = (headers: Record<string, string>) =>
  new Request('http://gateway.test/orders/7?x=1', {
    headers: { host: 'gateway.test', connection: 'keep-alive, x-drop', 'x-drop': '1', ...headers },
  })

test('floors.ts: every reference proxies with bun-floor’s edits; the minimal gateways check the token, and the header pass strips the claim header’s copies and caps the size', async () => {
  const { seen, upstream } = recorder()
  const refs = references(upstream, TOKEN)
  assert.equal(refs.length, 4)
  for (const [i, ref] of refs.entries()) {
    seen.length = 0
    const ok = await ref.fetch(
      request({ authorization: `Bearer ${TOKEN}`, 'x-user-id': 'spoofed', x_user_id: 'spoofed' }),
    )
    assert.equal(ok.status, 200, ref.label)
    assert.equal(ok.headers.get('connection'), null, ref.label)
    assert.equal(ok.headers.get('keep-alive'), null, ref.label)
    assert.match(ok.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/, ref.label)
    const sent = seen[0]!
    assert.equal(sent.url, 'http://127.0.0.1:9/orders/7?x=1', ref.label)
    for (const name of ['host', 'authorization', 'connection', 'x-drop']) {
      assert.equal(sent.headers.get(name), null, `${ref.label}: ${name}`)
    }
    assert.equal(sent.headers.get('x-forwarded-host'), 'gateway.test', ref.label)
    assert.equal(sent.headers.get('x-user-id'), i === 0 ? 'anonymous' : 'bench-user', ref.label)
    if (i === 3) assert.equal(sent.headers.get('x_user_id'), null, ref.label)
    if (i > 0) {
      const refused = await ref.fetch(request({ authorization: 'Bearer other' }))
      assert.equal(refused.status, 401, ref.label)
      assert.equal((await ref.fetch(request({}))).status, 401, ref.label)
      // Its own abort, not one shared with other requests.
      const again = seen.length
      await ref.fetch(request({ authorization: `Bearer ${TOKEN}` }))
      assert.notEqual(seen[again]!.signal, sent.signal, ref.label)
    }
  }
  const big = await refs[3]!.fetch(
    request({ authorization: `Bearer ${TOKEN}`, 'x-big': 'a'.repeat(70 * 1024) }),
  )
  assert.equal(big.status, 431)
})
