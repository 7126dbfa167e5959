/**
 * The path rules through a whole gateway (proxy mode): what is refused before routing or at the
 * matched route, and what the upstream then receives.
 */
import assert from 'node:assert/strict'
import { type GatewayFixture, gatewayFixture } from '../../helpers/gateway.ts'
import { secret, sign } from '../../helpers/keys.ts'
import { test } from '../../helpers/t.ts'

const KEY = secret(32)

function setup(): Promise<GatewayFixture<'upstream'>> {
  return gatewayFixture({
    file: ({ upstream }) => `
providers:
  main: { issuer: https://idp.test, secret: "${KEY.config}" }
upstreams:
  api: { url: "${upstream.url}/base" }
routes:
  - { path: /public/*, upstream: api, auth: public }
  - { path: /api/admin/*, upstream: api }
  - { path: /api/*, upstream: api, auth: optional }
  - { path: /v1/items/:id, upstream: api, auth: public, rewrite: "/items/{params.id}" }
  - { path: /docs/:rest+, upstream: api, auth: public, rewrite: "/d/{params.rest}" }
  - path: /tenants/:tenant/*
    upstream: api
    require: { claims: [{ claim: tenant, equals: "{params.tenant}" }] }
`,
  })
}

async function problemCode(response: Response): Promise<string | undefined> {
  return ((await response.json()) as { code?: string }).code
}

test('proxy mode refuses an empty path segment (//) with 400 bad_path, wherever it is', async () => {
  const g = await setup()
  try {
    const token = await sign({ iss: 'https://idp.test', sub: 'ann' }, {
      alg: 'HS256',
      key: KEY.raw,
    })
    for (
      const path of [
        '/api//admin/x',
        '/api/admin//x',
        '//api/admin/x',
        '/public//x',
        '/public/x//',
        '/api//x',
        '/api//admin/../x',
      ]
    ) {
      const asAnyone: Record<string, string>[] = [{}, { authorization: `Bearer ${token}` }]
      for (const headers of asAnyone) {
        const res = await g.call(path, { headers })
        assert.equal(res.status, 400, path)
        assert.equal(await problemCode(res), 'bad_path', path)
      }
    }
    assert.equal(g.upstream.seen.length, 0)
    // In the query, // is data: the path decides.
    const res = await g.call('/public/x?next=//h//y')
    assert.equal(res.status, 200)
    assert.equal(g.upstream.seen[0]!.path, '/base/public/x')
    assert.equal(g.upstream.seen[0]!.search, '?next=//h//y')
  } finally {
    await g.close()
  }
})

test('a relative request.url (Bun: HTTP/1.0 without Host) is routed by its whole path', async () => {
  const g = await setup()
  try {
    for (
      const [target, status] of [
        ['/api/admin/x?next=http://h/public/x', 401],
        ['/api/admin/http://h/public/x', 400],
        ['/public/x?next=http://h/api/admin/x', 200],
      ] as const
    ) {
      const request = new Request(`http://gw.test${target}`)
      // What Bun hands over for `GET <target> HTTP/1.0` without a Host header.
      Object.defineProperty(request, 'url', { value: target })
      const res = await g.gateway.fetch(request, { clientAddress: '192.0.2.7' })
      assert.equal(res.status, status, target)
    }
    assert.deepEqual(g.upstream.seen.map((s) => s.path), ['/base/public/x'])
  } finally {
    await g.close()
  }
})

test('a path parameter that is not UTF-8 is refused with 400 bad_path, never re-encoded', async () => {
  const g = await setup()
  try {
    const token = await sign(
      { iss: 'https://idp.test', sub: 'ann', tenant: '%C0' },
      { alg: 'HS256', key: KEY.raw },
    )
    for (
      const path of [
        '/v1/items/%C0',
        '/v1/items/%C0%AE',
        '/v1/items/%ED%A0%80',
        '/v1/items/a%FF',
        '/docs/a/%E2%82/b',
        '/docs/%80',
      ]
    ) {
      const res = await g.call(path)
      assert.equal(res.status, 400, path)
      assert.equal(await problemCode(res), 'bad_path', path)
    }
    // A claim condition never compares the half-decoded text ("%C0" equals the claim "%C0").
    const res = await g.call('/tenants/%C0/x', { headers: { authorization: `Bearer ${token}` } })
    assert.equal(res.status, 400)
    assert.equal(await problemCode(res), 'bad_path')
    assert.equal(g.upstream.seen.length, 0)
    // Valid UTF-8 is decoded once and encoded once.
    assert.equal((await g.call('/v1/items/caf%C3%A9')).status, 200)
    assert.equal((await g.call('/v1/items/%25C0')).status, 200)
    assert.deepEqual(g.upstream.seen.map((s) => s.path), [
      '/base/items/caf%C3%A9',
      '/base/items/%25C0',
    ])
  } finally {
    await g.close()
  }
})
