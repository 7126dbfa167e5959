// The Node adapter (src/adapters/node.ts) under plain Node 20+, and examples/node.mjs.
//
//   node --test-reporter=tap tests/adapters/node.test.mjs
//
// Node 20 cannot load TypeScript, so this file first bundles src/adapters/node.ts and src/mod.ts
// with the repository's bun (`bun build --target=node`) into a temporary directory, laid out as
// an installed `jwtgate` package (`jwtgate`, `jwtgate/node`), which the example imports unchanged.
// JWTGATE_NODE_ADAPTER=<path to a .ts file> bundles another adapter source (to check that these
// tests fail on a broken one). Everything listens on 127.0.0.1; every loop is bounded.
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { createHash, webcrypto } from 'node:crypto'
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import process from 'node:process'
import { after, before, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'

const root = fileURLToPath(new URL('../..', import.meta.url))
const work = mkdtempSync(join(tmpdir(), 'jwtgate-node-'))
const pkg = join(work, 'node_modules', 'jwtgate')
mkdirSync(pkg, { recursive: true })

function bundle(entry, out) {
  const r = spawnSync(join(root, 'node_modules', '.bin', 'bun'), [
    'build',
    entry,
    '--target=node',
    '--format=esm',
    '--outfile',
    out,
  ], { cwd: root, encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`bun build ${entry} failed:\n${r.stdout}${r.stderr}`)
}
bundle(
  process.env.JWTGATE_NODE_ADAPTER ?? join(root, 'src/adapters/node.ts'),
  join(pkg, 'node.mjs'),
)
bundle(join(root, 'src/mod.ts'), join(pkg, 'mod.mjs'))
writeFileSync(
  join(pkg, 'package.json'),
  JSON.stringify({
    name: 'jwtgate',
    type: 'module',
    exports: { '.': './mod.mjs', './node': './node.mjs' },
  }),
)
const { serve, runtimeDeps } = await import(join(pkg, 'node.mjs'))
const { createGateway, loadConfig } = await import(join(pkg, 'mod.mjs'))

const MB = 1024 * 1024

// --- tokens: HS256 signed with WebCrypto ---------------------------------------------------

const secret = webcrypto.getRandomValues(new Uint8Array(32))
const secretConfig = `base64:${Buffer.from(secret).toString('base64')}`

async function sign(claims) {
  const part = (value) => Buffer.from(JSON.stringify(value)).toString('base64url')
  const now = Math.floor(Date.now() / 1000)
  const input = `${part({ alg: 'HS256', typ: 'JWT' })}.${
    part({ iat: now, exp: now + 600, ...claims })
  }`
  const key = await webcrypto.subtle.importKey(
    'raw',
    secret,
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    ['sign'],
  )
  const signature = await webcrypto.subtle.sign('HMAC', key, new TextEncoder().encode(input))
  return `${input}.${Buffer.from(signature).toString('base64url')}`
}

// --- helpers --------------------------------------------------------------------------------

/** Resolves with `promise`, or rejects after `ms` (no test waits forever). */
function within(ms, promise, what) {
  let timer
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/** One request on its own connection; `path` is sent as the request target verbatim. */
function request(port, { method = 'GET', path = '/', headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers, agent: false })
    req.on('error', reject)
    req.on('response', (res) => {
      const chunks = []
      res.on('data', (c) => chunks.push(c))
      res.on('error', reject)
      res.on('end', () =>
        resolve({
          status: res.statusCode,
          headers: res.headers,
          rawHeaders: res.rawHeaders,
          body: Buffer.concat(chunks),
        }))
    })
    req.end(body)
  })
}

/** Deterministic bytes for chunk `i`. */
const chunkOf = (i, size = 64 * 1024) => Buffer.alloc(size, i % 251)

/** Writes `count` chunks to a writable, waiting for drain (bounded by `count`). */
async function writeChunks(writable, count) {
  const hash = createHash('sha256')
  for (let i = 0; i < count; i++) {
    const chunk = chunkOf(i)
    hash.update(chunk)
    if (!writable.write(chunk)) await new Promise((r) => writable.once('drain', r))
  }
  return hash.digest('hex')
}

// --- an upstream that records what reached it ------------------------------------------------

function startUpstream() {
  const seen = []
  let onSlowClosed = () => {}
  const slowClosed = new Promise((resolve) => (onSlowClosed = resolve))
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://upstream')
    seen.push({ method: req.method, path: url.pathname, headers: req.headers })
    if (url.pathname === '/upload') {
      const hash = createHash('sha256')
      let bytes = 0
      for await (const chunk of req) {
        hash.update(chunk)
        bytes += chunk.length
      }
      res.setHeader('content-type', 'application/json')
      res.end(
        JSON.stringify({ bytes, sha256: hash.digest('hex'), te: req.headers['transfer-encoding'] }),
      )
    } else if (url.pathname === '/download') {
      // No Content-Length: chunked all the way to the client.
      res.writeHead(200, { 'content-type': 'application/octet-stream' })
      const sha = await writeChunks(res, Number(url.searchParams.get('chunks')))
      res.addTrailers({})
      res.end()
      seen.at(-1).sha256 = sha
    } else if (url.pathname === '/slow') {
      // A long download (at most 10 s); a client gone midway must close this response early.
      res.writeHead(200, { 'content-type': 'application/octet-stream' })
      res.once('close', () => {
        if (!res.writableFinished) onSlowClosed('closed early')
      })
      for (let i = 0; i < 500 && !res.destroyed; i++) {
        res.write(chunkOf(i, 16 * 1024))
        await sleep(20)
      }
      res.end()
    } else if (url.pathname === '/cookies') {
      res.setHeader('set-cookie', ['a=1; Path=/', 'b=2; Path=/; HttpOnly'])
      res.end('cookies')
    } else if (url.pathname === '/head') {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '1234' })
      res.end(req.method === 'HEAD' ? undefined : 'x'.repeat(1234))
    } else {
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify({ method: req.method, path: url.pathname }))
    }
  })
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () =>
      resolve({
        url: `http://127.0.0.1:${server.address().port}`,
        seen,
        slowClosed,
        close: () => {
          server.closeAllConnections()
          return new Promise((r) => server.close(() => r()))
        },
      }))
  })
}

// --- the gateway, served by the adapter ------------------------------------------------------

let upstream
let gateway
let server
let base
let token
let auth

before(async () => {
  upstream = await startUpstream()
  gateway = createGateway(
    await loadConfig({
      JWTGATE_UPSTREAM: upstream.url,
      JWTGATE_SECRET: secretConfig,
      JWTGATE_FORWARD_CLAIMS: 'sub=X-User-Id',
      JWTGATE_REQUIRED_SCOPES: 'read',
    }),
    runtimeDeps,
  )
  server = await serve(gateway, { hostname: '127.0.0.1', port: 0, idleTimeoutSec: 30 })
  base = `http://127.0.0.1:${server.port}`
  token = await sign({ sub: 'alice', scope: 'read write' })
  auth = { authorization: `Bearer ${token}` }
})

after(async () => {
  await server?.stop(true)
  gateway?.close()
  await upstream?.close()
  rmSync(work, { recursive: true, force: true })
  // A broken adapter can leave a connection open (a body never cancelled): end the run anyway.
  setTimeout(() => {
    console.error('# the process did not end 10 s after the tests: a connection was left open')
    process.exit(1)
  }, 10_000).unref()
})

test('runtimeDeps: undici decodes gzip, deflate and br itself', () => {
  for (const coding of ['gzip', 'x-gzip', 'deflate', 'br']) {
    assert.ok(runtimeDeps.decodedEncodings.includes(coding), coding)
  }
  assert.equal(runtimeDeps.fetchInit, undefined)
})

test('a valid token reaches the upstream with the claim header and the client address', async () => {
  const r = await request(server.port, {
    path: '/hello?q=1',
    // An array of headers: Node adds no Host to it.
    headers: [
      ['host', `127.0.0.1:${server.port}`],
      ['authorization', `Bearer ${token}`],
      ['x-multi', 'a'],
      ['x-multi', 'b'],
    ].flat(),
  })
  assert.equal(r.status, 200)
  assert.deepEqual(JSON.parse(r.body), { method: 'GET', path: '/hello' })
  const seen = upstream.seen.at(-1)
  assert.equal(seen.headers['x-user-id'], 'alice')
  assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1')
  assert.equal(seen.headers['x-forwarded-proto'], 'http')
  assert.equal(seen.headers['x-forwarded-host'], `127.0.0.1:${server.port}`)
  // Both values of a repeated request header went on.
  assert.equal(seen.headers['x-multi'], 'a, b')
})

test('a bad token: 401 with WWW-Authenticate, the upstream not contacted', async () => {
  const before = upstream.seen.length
  const r = await fetch(`${base}/hello`, { headers: { authorization: 'Bearer not.a.token' } })
  assert.equal(r.status, 401)
  assert.match(r.headers.get('www-authenticate') ?? '', /^Bearer/)
  await r.arrayBuffer()
  const none = await fetch(`${base}/hello`)
  assert.equal(none.status, 401)
  await none.arrayBuffer()
  assert.equal(upstream.seen.length, before)
})

test('a token without the required scope: 403, the upstream not contacted', async () => {
  const before = upstream.seen.length
  const r = await fetch(`${base}/hello`, {
    headers: { authorization: `Bearer ${await sign({ sub: 'bob', scope: 'write' })}` },
  })
  assert.equal(r.status, 403)
  await r.arrayBuffer()
  assert.equal(upstream.seen.length, before)
})

test('a 5 MB chunked upload reaches the upstream intact', async () => {
  let sent
  const answer = new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1',
      port: server.port,
      method: 'POST',
      path: '/upload',
      headers: auth,
      agent: false,
    })
    req.on('error', reject)
    req.on('response', async (res) => {
      let text = ''
      for await (const c of res) text += c
      resolve({ status: res.statusCode, json: JSON.parse(text) })
    })
    writeChunks(req, 80).then((sha256) => {
      sent = sha256
      req.end()
    }, reject)
  })
  const { status, json } = await within(20_000, answer, 'upload')
  assert.equal(status, 200)
  assert.equal(json.bytes, 5 * MB)
  assert.equal(json.sha256, sent)
  assert.equal(json.te, 'chunked')
})

test('a 5 MB chunked download reaches the client intact', async () => {
  const r = await within(
    20_000,
    request(server.port, { path: '/download?chunks=80', headers: auth }),
    'download',
  )
  assert.equal(r.status, 200)
  assert.equal(r.headers['transfer-encoding'], 'chunked')
  assert.equal(r.body.length, 5 * MB)
  assert.equal(createHash('sha256').update(r.body).digest('hex'), upstream.seen.at(-1).sha256)
})

test('several Set-Cookie headers stay separate lines', async () => {
  const r = await request(server.port, { path: '/cookies', headers: auth })
  assert.equal(r.status, 200)
  assert.deepEqual(r.headers['set-cookie'], ['a=1; Path=/', 'b=2; Path=/; HttpOnly'])
  const lines = r.rawHeaders.filter((_, i) =>
    i % 2 === 0 && r.rawHeaders[i].toLowerCase() === 'set-cookie'
  )
  assert.equal(lines.length, 2)
})

test('HEAD: the headers, no body', async () => {
  const r = await request(server.port, { method: 'HEAD', path: '/head', headers: auth })
  assert.equal(r.status, 200)
  assert.equal(r.headers['content-length'], '1234')
  assert.equal(r.body.length, 0)
  assert.equal(upstream.seen.at(-1).method, 'HEAD')
})

test('a client gone mid-download closes the upstream request', async () => {
  const got = await new Promise((resolve, reject) => {
    const req = http.get({
      host: '127.0.0.1',
      port: server.port,
      path: '/slow',
      headers: auth,
      agent: false,
    })
    req.on('error', () => {})
    req.on('response', (res) => {
      res.once('data', (chunk) => {
        req.destroy()
        resolve(chunk.length)
      })
    })
    setTimeout(() => reject(new Error('no first chunk')), 5_000).unref()
  })
  assert.ok(got > 0)
  assert.equal(await within(5_000, upstream.slowClosed, 'upstream request closed'), 'closed early')
})

test('the Host header, not an absolute-form target, names the authority', async () => {
  const r = await request(server.port, {
    path: 'http://evil.example/abs?x=1',
    headers: { ...auth, host: `127.0.0.1:${server.port}` },
  })
  assert.equal(r.status, 200)
  assert.deepEqual(JSON.parse(r.body), { method: 'GET', path: '/abs' })
  assert.equal(upstream.seen.at(-1).headers['x-forwarded-host'], `127.0.0.1:${server.port}`)
  // A Host with a path: the gateway refuses it (the URL was built from the local address).
  const bad = await request(server.port, { path: '/x', headers: { ...auth, host: 'a.example/p' } })
  assert.equal(bad.status, 400)
  const star = await request(server.port, { method: 'OPTIONS', path: '*' })
  assert.equal(star.status, 400)
})

test('TRACE: the gateway’s own 405 (problem+json, Allow), as under Bun and Deno; nothing upstream', async () => {
  const before = upstream.seen.length
  // (TRACK never reaches the adapter: Node's parser answers it 400.)
  for (const method of ['TRACE']) {
    const r = await request(server.port, { method, path: '/x', headers: auth })
    assert.equal(r.status, 405, method)
    assert.equal(r.headers['content-type'], 'application/problem+json', method)
    assert.equal(r.headers.allow, 'GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS', method)
    assert.equal(JSON.parse(r.body).code, 'method_not_allowed', method)
    assert.match(r.headers['x-request-id'] ?? '', /^[0-9a-f-]{36}$/, method)
  }
  assert.equal(upstream.seen.length, before)
})

// --- the adapter with plain handlers -----------------------------------------------------------

/** Serves `handler` for one test and stops it after. */
async function withServer(handler, fn, options = {}) {
  const s = await serve(handler, { hostname: '127.0.0.1', port: 0, ...options })
  try {
    await fn(s)
  } finally {
    await within(5_000, s.stop(true), 'stop(true)')
  }
}

test('serve(handler): the connection facts; a taken port rejects', async () => {
  await withServer((request, info) => Response.json({ url: request.url, ...info }), async (s) => {
    const r = await fetch(`http://127.0.0.1:${s.port}/p?q=1`)
    assert.deepEqual(await r.json(), {
      url: `http://127.0.0.1:${s.port}/p?q=1`,
      clientAddress: '127.0.0.1',
      protocol: 'http',
    })
    // An absolute-form target gives the path only; the authority is the Host header's.
    const absolute = await request(s.port, {
      path: 'http://evil.example/abs?x=1',
      headers: { host: `127.0.0.1:${s.port}` },
    })
    assert.equal(JSON.parse(absolute.body).url, `http://127.0.0.1:${s.port}/abs?x=1`)
    // No usable Host: the local address.
    const hostless = await request(s.port, { path: '/h', headers: { host: 'a.example/p' } })
    assert.equal(JSON.parse(hostless.body).url, `http://127.0.0.1:${s.port}/h`)
    await assert.rejects(serve(() => new Response('x'), { hostname: '127.0.0.1', port: s.port }))
  })
})

test('tls: HTTPS, the protocol handed on; a bad certificate rejects', async () => {
  const cert = join(work, 'cert.pem')
  const key = join(work, 'key.pem')
  // deno-fmt-ignore
  const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
    '-nodes', '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1',
    '-keyout', key, '-out', cert], { encoding: 'utf8', timeout: 10_000 })
  assert.equal(made.status, 0, `openssl: ${made.stderr}`)
  const tls = { cert: readFileSync(cert, 'utf8'), key: readFileSync(key, 'utf8') }
  await withServer((request, info) => Response.json({ url: request.url, ...info }), async (s) => {
    const body = await new Promise((resolve, reject) => {
      const req = https.get({
        host: '127.0.0.1',
        port: s.port,
        path: '/t',
        ca: tls.cert,
        agent: false,
      })
      req.on('error', reject)
      req.on('response', async (res) => {
        let text = ''
        for await (const c of res) text += c
        resolve(JSON.parse(text))
      })
    })
    assert.deepEqual(body, {
      url: `https://127.0.0.1:${s.port}/t`,
      clientAddress: '127.0.0.1',
      protocol: 'https',
    })
  }, { tls })
  await assert.rejects(serve(() => new Response('x'), {
    hostname: '127.0.0.1',
    port: 0,
    tls: { cert: 'not a certificate', key: tls.key },
  }))
})

test('the request signal aborts when the client leaves before the response, not after it', async () => {
  let finished
  let waited
  const gone = new Promise((resolve) => (waited = resolve))
  await withServer(async (request) => {
    if (new URL(request.url).pathname === '/done') {
      finished = request
      return new Response('done')
    }
    await within(5_000, new Promise((r) => request.signal.addEventListener('abort', r)), 'abort')
    waited(request.signal.aborted)
    return new Response('too late')
  }, async (s) => {
    const r = await fetch(`http://127.0.0.1:${s.port}/done`)
    assert.equal(await r.text(), 'done')
    const req = http.get({ host: '127.0.0.1', port: s.port, path: '/wait', agent: false })
    req.on('error', () => {})
    await sleep(100)
    req.destroy()
    assert.equal(await within(5_000, gone, 'handler saw the abort'), true)
    assert.equal(finished.signal.aborted, false)
  })
})

test('a handler that throws or returns no Response: the generic problem+json 500, its error not shown but named in the log', async () => {
  const logged = []
  const logger = {
    enabled: () => true,
    log: (level, event, fields) => void logged.push({ level, event, ...fields }),
  }
  await withServer((request) => {
    if (request.url.endsWith('/none')) return 'not a response'
    throw new Error('secret detail')
  }, async (s) => {
    for (const [path, error] of [['/', 'Error'], ['/none', 'TypeError']]) {
      const r = await request(s.port, { path })
      assert.equal(r.status, 500)
      assert.equal(r.headers['content-type'], 'application/problem+json')
      assert.equal(JSON.parse(r.body.toString()).code, 'internal_error')
      assert.doesNotMatch(r.body.toString(), /secret/)
      assert.deepEqual(logged.at(-1), {
        level: 'error',
        event: 'internal_error',
        request_id: r.headers['x-request-id'],
        error,
      })
    }
    assert.doesNotMatch(JSON.stringify(logged), /secret/)
  }, { logger })
})

test('a handler failing late never ends the process: a Response given twice, a body whose cancel throws', async () => {
  // Node ends the process on an unhandled rejection, every other connection with it: each case
  // cuts its own connection, and the server answers the next request.
  const reused = new Response('once\n')
  const sse = () =>
    new Response(
      new ReadableStream({
        start(c) {
          c.enqueue(new TextEncoder().encode('event: hello\n\n'))
        },
        cancel() {
          throw new Error('cleanup failed')
        },
      }),
      { headers: { 'content-type': 'text/event-stream' } },
    )
  const handler = (request) => {
    const path = new URL(request.url).pathname
    if (path === '/reused') return reused
    if (path === '/events') return sse()
    return new Response('fine')
  }
  await withServer(handler, async (s) => {
    assert.equal((await request(s.port, { path: '/reused' })).status, 200)
    await assert.rejects(request(s.port, { path: '/reused' })) // its body is spent: cut
    const socket = connect(s.port, '127.0.0.1')
    socket.write('GET /events HTTP/1.1\r\nHost: a\r\n\r\n')
    await new Promise((resolve) => socket.once('data', resolve))
    socket.destroy() // gone mid-stream: the body's cancel throws
    await sleep(100)
    assert.equal((await request(s.port, { path: '/ok' })).body.toString(), 'fine')
  })
})

test('HEAD: the body of the response is cancelled, not read or sent', async () => {
  let pulls = 0
  let cancelled
  const cancel = new Promise((resolve) => (cancelled = resolve))
  await withServer(() => {
    const body = new ReadableStream({
      pull(controller) {
        // At most 1000 chunks, however the adapter behaves.
        if (++pulls > 1000) return controller.close()
        controller.enqueue(new TextEncoder().encode('body'))
      },
      cancel: () => cancelled('cancelled'),
    })
    return new Response(body, { headers: { 'x-head': 'yes' } })
  }, async (s) => {
    const head = await request(s.port, { method: 'HEAD', path: '/' })
    assert.equal(head.status, 200)
    assert.equal(head.headers['x-head'], 'yes')
    assert.equal(head.body.length, 0)
    assert.equal(await within(2_000, cancel, 'body cancelled'), 'cancelled')
    assert.ok(pulls <= 1, `${pulls} chunks pulled for a HEAD`)
  })
})

test('download backpressure: a client that does not read stops the body being pulled', async () => {
  let pulled = 0
  let cancelled
  const cancel = new Promise((resolve) => (cancelled = resolve))
  const chunk = new Uint8Array(64 * 1024)
  await withServer(() =>
    new Response(
      new ReadableStream({
        pull(controller) {
          // At most 256 MB, however the adapter behaves.
          if (pulled >= 256 * MB) return controller.close()
          pulled += chunk.byteLength
          controller.enqueue(chunk)
        },
        cancel: () => cancelled('cancelled'),
      }),
    ), async (s) => {
    const req = http.get({ host: '127.0.0.1', port: s.port, path: '/', agent: false })
    req.on('error', () => {})
    const res = await new Promise((r) => req.on('response', r))
    res.pause()
    await sleep(500)
    assert.ok(pulled < 64 * MB, `pulled ${pulled} bytes for a client that reads nothing`)
    req.destroy()
    assert.equal(await within(5_000, cancel, 'body cancelled'), 'cancelled')
  })
})

/**
 * POSTs up to 256 MB (waiting for drain, 1 s at most each time) until the answer comes; resolves
 * with the response, what was written, and whether the connection closed within 5 s.
 */
async function uploadUntilAnswered(port, path) {
  const req = http.request({ host: '127.0.0.1', port, method: 'POST', path, agent: false })
  req.on('error', () => {})
  const socketClosed = new Promise((r) => req.on('socket', (socket) => socket.once('close', r)))
  const response = new Promise((r) => req.on('response', r))
  let written = 0
  let answered
  response.then((res) => (answered = res))
  while (answered === undefined && written < 256 * MB) {
    written += 64 * 1024
    if (!req.write(chunkOf(0))) {
      await Promise.race([new Promise((r) => req.once('drain', r)), response, sleep(1_000)])
    }
  }
  const res = await within(5_000, response, 'response')
  res.resume()
  const closed = await within(5_000, socketClosed.then(() => true), 'connection closed')
    .catch(() => false)
  req.destroy()
  return { res, written, closed }
}

test('upload backpressure: a body left unread or cancelled is not taken in; the connection closes', async () => {
  await withServer(async (request) => {
    if (new URL(request.url).pathname === '/cancel') {
      const reader = request.body.getReader()
      await reader.read()
      await reader.cancel()
      return new Response('too large', { status: 413 })
    }
    await sleep(400)
    return new Response('refused', { status: 401 })
  }, async (s) => {
    for (const [path, status] of [['/unread', 401], ['/cancel', 413]]) {
      const { res, written, closed } = await uploadUntilAnswered(s.port, path)
      assert.equal(res.statusCode, status, path)
      assert.equal(res.headers.connection, 'close', path)
      assert.ok(closed, `${path}: the connection stayed open`)
      assert.ok(written < 64 * MB, `${path}: the client could write ${written} bytes nobody read`)
    }
  })
})

test('Expect: 100-continue is answered only when the body is read', async () => {
  await withServer(async (request) => {
    if (new URL(request.url).pathname === '/refuse') return new Response('no', { status: 401 })
    return new Response(String((await request.arrayBuffer()).byteLength))
  }, async (s) => {
    const send = (path) =>
      new Promise((resolve, reject) => {
        let continued = false
        const req = http.request({
          host: '127.0.0.1',
          port: s.port,
          method: 'POST',
          path,
          agent: false,
          headers: { expect: '100-continue', 'content-length': '1000' },
        })
        req.on('error', reject)
        req.on('continue', () => {
          continued = true
          req.end(Buffer.alloc(1000, 1))
        })
        req.on('response', async (res) => {
          let text = ''
          for await (const c of res) text += c
          resolve({ status: res.statusCode, text, continued, connection: res.headers.connection })
          req.destroy()
        })
      })
    const refused = await within(5_000, send('/refuse'), 'refused')
    assert.deepEqual(refused, { status: 401, text: 'no', continued: false, connection: 'close' })
    const read = await within(5_000, send('/read'), 'read')
    assert.equal(read.status, 200)
    assert.equal(read.text, '1000')
    assert.equal(read.continued, true)
  })
})

/** A handler whose response streams 5 chunks, 60 ms apart. */
const slowHandler = () => {
  let i = 0
  return new Response(
    new ReadableStream({
      async pull(controller) {
        if (i === 5) return controller.close()
        if (i > 0) await sleep(60)
        controller.enqueue(new TextEncoder().encode(`chunk${i++};`))
      },
    }),
  )
}

test('stop(): no new connections, the request in flight finishes, then it resolves', async () => {
  const s = await serve(slowHandler, { hostname: '127.0.0.1', port: 0 })
  const url = `http://127.0.0.1:${s.port}/`
  const r = await fetch(url)
  const reader = r.body.getReader()
  const first = await reader.read()
  let stopped = false
  const stopping = s.stop().then(() => (stopped = true))
  await assert.rejects(within(5_000, fetch(url), 'a new request'))
  let text = new TextDecoder().decode(first.value)
  for (let i = 0; i < 10; i++) {
    const { done, value } = await within(5_000, reader.read(), 'body')
    if (done) break
    assert.equal(stopped, false)
    text += new TextDecoder().decode(value)
  }
  assert.equal(text, 'chunk0;chunk1;chunk2;chunk3;chunk4;')
  await within(5_000, stopping, 'stop()')
})

test('stop(true): cuts the request in flight', async () => {
  const s = await serve(slowHandler, { hostname: '127.0.0.1', port: 0 })
  const r = await fetch(`http://127.0.0.1:${s.port}/`)
  const reader = r.body.getReader()
  await reader.read()
  await within(2_000, s.stop(true), 'stop(true)')
  await assert.rejects(async () => {
    for (let i = 0; i < 10; i++) if ((await within(5_000, reader.read(), 'body')).done) return
  })
})

test('idleTimeoutSec closes a silent connection', async () => {
  await withServer(() => new Response('ok'), async (s) => {
    const socket = connect({ host: '127.0.0.1', port: s.port })
    socket.on('error', () => {})
    await new Promise((r) => socket.once('connect', r))
    const started = Date.now()
    await within(5_000, new Promise((r) => socket.once('close', r)), 'the silent connection closed')
    const waited = Date.now() - started
    assert.ok(waited >= 800, `closed after ${waited} ms, before the idle timeout`)
  }, { idleTimeoutSec: 1 })
})

// --- examples/node.mjs, unchanged, against the bundles ----------------------------------------

test('examples/node.mjs: a valid token, a bad one, a 403; SIGTERM ends it', async () => {
  copyFileSync(join(root, 'examples', 'node.mjs'), join(work, 'example.mjs'))
  const child = spawn(process.execPath, [join(work, 'example.mjs')], {
    cwd: work,
    env: {
      PATH: process.env.PATH,
      JWTGATE_UPSTREAM: upstream.url,
      JWTGATE_SECRET: secretConfig,
      JWTGATE_REQUIRED_SCOPES: 'read',
      JWTGATE_HOST: '127.0.0.1',
      JWTGATE_PORT: '0',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout.on('data', (c) => (output += c))
  child.stderr.on('data', (c) => (output += c))
  const exited = new Promise((r) => child.once('exit', (code) => r(code)))
  try {
    const port = await within(
      10_000,
      (async () => {
        for (let i = 0; i < 200; i++) {
          const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(output)
          if (m) return Number(m[1])
          await sleep(50)
        }
        throw new Error(`the example did not start:\n${output}`)
      })(),
      'the example starts',
    )
    const url = `http://127.0.0.1:${port}/hello`
    const ok = await fetch(url, { headers: auth })
    assert.equal(ok.status, 200)
    assert.deepEqual(await ok.json(), { method: 'GET', path: '/hello' })
    const bad = await fetch(url, { headers: { authorization: 'Bearer nope' } })
    assert.equal(bad.status, 401)
    await bad.arrayBuffer()
    const forbidden = await fetch(url, {
      headers: { authorization: `Bearer ${await sign({ sub: 'bob', scope: 'write' })}` },
    })
    assert.equal(forbidden.status, 403)
    await forbidden.arrayBuffer()
    child.kill('SIGTERM')
    assert.equal(await within(10_000, exited, 'the example exits on SIGTERM'), 0)
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL')
  }
})
