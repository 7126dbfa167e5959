import assert from 'node:assert/strict'
import {
  checkTokenShape,
  extractToken,
  isCompactJws,
  parseTokenSource,
  readCookie,
  removeCookie,
  type TokenSource,
} from '../../../src/core/auth/token.ts'
import { searchWithout } from '../../../src/core/routing/parameters.ts'
import { TokenError } from '../../../src/core/errors.ts'
import { test } from '../../helpers/t.ts'

const JWT = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln'
const AUTH: TokenSource[] = [{ kind: 'authorization' }]
const ALL: TokenSource[] = [
  { kind: 'authorization' },
  { kind: 'header', name: 'x-token' },
  { kind: 'cookie', name: 'session' },
  { kind: 'query', name: 'access_token' },
]

function extract(headers: Record<string, string>, sources = AUTH, search = '') {
  const found = extractToken(new Headers(headers), search, sources, 8192)
  if (found !== undefined) checkTokenShape(found.token)
  return found
}

function code(fn: () => unknown): string {
  try {
    fn()
  } catch (e) {
    assert.ok(e instanceof TokenError)
    return e.code
  }
  return 'no error'
}

test('header:Cookie is no token source: a cookie login is cookie:name (the cross-site rules know it)', () => {
  assert.equal(parseTokenSource('header:Cookie'), undefined)
  assert.equal(parseTokenSource('header:cookie'), undefined)
  assert.deepEqual(parseTokenSource('cookie:session'), { kind: 'cookie', name: 'session' })
})

test('isCompactJws() accepts three non-empty base64url segments and nothing else', () => {
  assert.ok(isCompactJws(JWT))
  for (
    const bad of [
      'a.b.',
      '',
      'a',
      'a.b',
      'a.b.c.d',
      '.b.c',
      'a..c',
      'a.b.c=',
      'a.b.c d',
      'a+b.c.d',
      'a/b.c.d',
      'é.b.c',
    ]
  ) {
    assert.equal(isCompactJws(bad), false, bad)
  }
})

test('extractToken() reads a Bearer token, scheme case-insensitive', () => {
  assert.equal(extract({ authorization: `Bearer ${JWT}` })?.token, JWT)
  assert.equal(extract({ authorization: `bearer ${JWT}` })?.token, JWT)
  assert.equal(extract({ authorization: `BEARER ${JWT}` })?.token, JWT)
})

test('the Bearer scheme in each of its 64 case spellings, and no one-character change of it', () => {
  // Compared by character codes (no lower-cased copy): every spelling a case-insensitive
  // comparison accepts, and none of the bytes next to a letter (`@` beside `A`, `` ` `` beside
  // `a`, `[`, `{`, `^` …).
  for (let mask = 0; mask < 64; mask++) {
    const scheme = [...'bearer'].map((c, i) => (mask & (1 << i) ? c.toUpperCase() : c)).join('')
    assert.equal(extract({ authorization: `${scheme} ${JWT}` })?.token, JWT, scheme)
    assert.equal(extract({ 'x-token': `${scheme} ${JWT}` }, ALL)?.token, JWT, scheme)
  }
  for (let i = 0; i < 6; i++) {
    for (let code = 0x21; code < 0x7f; code++) {
      const c = String.fromCharCode(code)
      if (c.toLowerCase() === 'bearer'[i]) continue
      const scheme = `${'Bearer'.slice(0, i)}${c}${'Bearer'.slice(i + 1)}`
      assert.equal(extract({ authorization: `${scheme} ${JWT}` }), undefined, scheme)
      // A custom header's value without the prefix is the token itself, whole.
      const found = extractToken(new Headers({ 'x-token': `${scheme} x` }), '', ALL, 8192)
      assert.equal(found?.token, `${scheme} x`, scheme)
    }
  }
})

test('extractToken() treats another scheme or no header as no token', () => {
  assert.equal(extract({}), undefined)
  assert.equal(extract({ authorization: 'Basic dXNlcjpwYXNz' }), undefined)
  assert.equal(extract({ authorization: `Token ${JWT}` }), undefined)
  assert.equal(extract({ authorization: 'Digest username="a", realm="b"' }), undefined)
})

test('extractToken() rejects a Bearer credential that is not exactly one "Bearer <token>"', () => {
  for (
    const value of [
      `Bearer\t${JWT}`,
      `Basic dTpw, Bearer ${JWT}`,
      `, Bearer ${JWT}`,
      `Bearer ${JWT}, Basic dTpw`,
      `Bearerx ${JWT}`,
    ]
  ) {
    assert.equal(code(() => extract({ authorization: value })), 'token_malformed', value)
  }
})

test('extractToken() rejects an empty or malformed Bearer credential as token_malformed', () => {
  assert.equal(code(() => extract({ authorization: 'Bearer' })), 'token_malformed')
  assert.equal(code(() => extract({ authorization: 'Bearer   ' })), 'token_malformed')
  assert.equal(code(() => extract({ authorization: `Bearer  ${JWT}` })), 'token_malformed')
  assert.equal(code(() => extract({ authorization: 'Bearer abc.def' })), 'token_malformed')
  assert.equal(code(() => extract({ authorization: `Bearer ${JWT}.x` })), 'token_malformed')
  assert.equal(
    code(() => extract({ authorization: `Bearer ${JWT}, Bearer ${JWT}` })),
    'token_malformed',
  )
})

test('extractToken() caps the token length before any decoding', () => {
  const long = `${'a'.repeat(9000)}.b.c`
  assert.throws(
    () => extract({ authorization: `Bearer ${long}` }),
    (e: unknown) => e instanceof TokenError && e.detail === 'The token is too long.',
  )
})

test('extractToken() reads a custom header, tolerating a Bearer prefix', () => {
  const found = extract({ 'x-token': JWT }, ALL)
  assert.equal(found?.token, JWT)
  assert.deepEqual(found?.source, { kind: 'header', name: 'x-token' })
  assert.equal(extract({ 'x-token': `Bearer ${JWT}` }, ALL)?.token, JWT)
  assert.equal(code(() => extract({ 'x-token': '' }, ALL)), 'token_malformed')
})

test('extractToken() reads a cookie and a query parameter', () => {
  assert.equal(extract({ cookie: `a=1; session=${JWT}; b=2` }, ALL)?.token, JWT)
  assert.equal(extract({ cookie: 'a=1' }, ALL), undefined)
  const q = extract({}, ALL, `?access_token=${JWT}&y=1`)
  assert.equal(q?.token, JWT)
  assert.equal(q?.source.kind, 'query')
})

test('extractToken() follows the configured order and ignores sources not listed', () => {
  const other = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJiIn0.c2ln'
  const found = extract({ authorization: `Bearer ${JWT}`, 'x-token': other }, [{
    kind: 'header',
    name: 'x-token',
  }, { kind: 'authorization' }])
  assert.equal(found?.token, other)
  assert.equal(extract({ cookie: `session=${JWT}` }, AUTH), undefined)
  assert.equal(extract({}, AUTH, `?access_token=${JWT}`), undefined)
})

test('parseTokenSource() parses each kind and rejects bad names', () => {
  assert.deepEqual(parseTokenSource('header:Authorization'), { kind: 'authorization' })
  assert.deepEqual(parseTokenSource('header:X-Token'), { kind: 'header', name: 'x-token' })
  assert.deepEqual(parseTokenSource('cookie:sid'), { kind: 'cookie', name: 'sid' })
  assert.deepEqual(parseTokenSource('query:t'), { kind: 'query', name: 't' })
  for (const bad of ['header', 'header:', 'header:X Y', 'body:t', 'cookie:a;b', 'query:a&b']) {
    assert.equal(parseTokenSource(bad), undefined, bad)
  }
})

test('readCookie() and removeCookie() handle one cookie among several', () => {
  assert.equal(readCookie('a=1; sid="v"; b=2', 'sid'), 'v')
  assert.equal(readCookie('a=1', 'sid'), undefined)
  assert.equal(removeCookie('a=1; sid=v; b=2', 'sid'), 'a=1; b=2')
  assert.equal(removeCookie('sid=v', 'sid'), undefined)
})

test('two copies of a token in one cookie header or one query are token_malformed', () => {
  assert.throws(() => readCookie('sid=a; x=1; sid=b', 'sid'), /twice/)
  assert.throws(() => readCookie('sid=a;sid=a', 'sid'), /twice/)
  // Another case is another cookie (RFC 6265; Spring Session's SESSION beside a token `session`).
  assert.equal(readCookie('sid=a; SID=b; sidx=c', 'sid'), 'a')
  const query: TokenSource[] = [{ kind: 'query', name: 'at' }]
  for (const search of ['?at=a.b.c&at=a.b.c', '?at=a.b.c&%61t=x.y.z', '?x=1&at=&at=a.b.c']) {
    assert.throws(() => extractToken(new Headers(), search, query, 8192), /twice/, search)
  }
  assert.equal(extractToken(new Headers(), '?at=a.b.c&atx=1', query, 8192)?.token, 'a.b.c')
})

test('searchWithout() removes one parameter and keeps the others byte for byte', () => {
  assert.equal(searchWithout('?access_token=abc&q=a+b&r=%2F', 'access_token'), '?q=a+b&r=%2F')
  assert.equal(searchWithout('?access_token=abc', 'access_token'), '')
  assert.equal(searchWithout('?access%5Ftoken=abc&x=1', 'access_token'), '?x=1')
  assert.equal(searchWithout('?a=1&access_token=x&access_token=y', 'access_token'), '?a=1')
})

/**
 * Spellings of a cookie or query parameter name that backends read as the name: percent-escaped
 * (PHP and Rack decode cookie names too), `+` for a space, and PHP's `.`, ` ` and `[` for `_`.
 */
const RESPELLED: readonly [string, string][] = [
  ['sess%69on', 'session'],
  ['%73ession', 'session'],
  ['access.token', 'access_token'],
  ['access+token', 'access_token'],
  ['access%20token', 'access_token'],
  ['access%2Etoken', 'access_token'],
  ['access[token', 'access_token'],
  ['access_token', 'access.token'],
  ['access_token[]', 'access_token'],
  ['access_token[0]', 'access_token'],
  ['access.token[x]', 'access_token'],
  // PHP reads a name as a C string, up to a NUL; and decodes each good escape even beside a bad
  // one (decodeURIComponent gives up on the whole name).
  ['session%00', 'session'],
  ['session%00x', 'session'],
  ['access_token%00', 'access_token'],
  ['access%5Ftoken%00%E9', 'access_token'],
]

test('a cookie in every spelling a backend reads as its name: a copy, and removed', () => {
  for (const [spelling, name] of RESPELLED) {
    const label = `${spelling} for ${name}`
    assert.equal(readCookie(`a=1; ${spelling}=x.y.z`, name), 'x.y.z', label)
    assert.throws(() => readCookie(`${name}=a.b.c; ${spelling}=x.y.z`, name), /twice/, label)
    assert.equal(removeCookie(`a=1; ${spelling}=x.y.z; b=2`, name), 'a=1; b=2', label)
  }
  // Rack 2 also splits at commas: a cookie after one is a cookie.
  assert.throws(() => readCookie('session=a.b.c; a=1, session=x.y.z', 'session'), /twice/)
  assert.equal(removeCookie('a=1, session=x.y.z; b=2', 'session'), 'a=1; b=2')
  assert.equal(removeCookie('a=1,2; b=x,y', 'session'), 'a=1,2; b=x,y')
  // Other names stay, however close — another case included.
  assert.equal(readCookie('sessions=x; Session=y; session_=z; SESSION=w', 'session'), undefined)
  assert.equal(removeCookie('sessions=x; SESSION=y', 'session'), 'sessions=x; SESSION=y')
})

test('a query parameter in every spelling a backend reads as its name: a copy, and removed', () => {
  for (const [spelling, name] of RESPELLED) {
    const label = `${spelling} for ${name}`
    const query: TokenSource[] = [{ kind: 'query', name }]
    assert.equal(extractToken(new Headers(), `?${spelling}=x.y.z`, query, 8192)?.token, 'x.y.z')
    assert.throws(
      () => extractToken(new Headers(), `?${name}=a.b.c&${spelling}=x.y.z`, query, 8192),
      /twice/,
      label,
    )
    assert.equal(searchWithout(`?a=1&${spelling}=x.y.z&b=2`, name), '?a=1&b=2', label)
  }
  assert.equal(
    searchWithout('?access_tokens=1&accessXtoken=2&access_token_x[]=3', 'access_token'),
    '?access_tokens=1&accessXtoken=2&access_token_x[]=3',
  )
  // After a `;` (Rack before 3.0 splits there too): a copy, and the pair holding it removed.
  const at: TokenSource[] = [{ kind: 'query', name: 'access_token' }]
  assert.throws(
    () => extractToken(new Headers(), '?access_token=a.b.c&x=;access_token=x.y.z', at, 8192),
    /twice/,
  )
  assert.equal(extractToken(new Headers(), '?x=1;access_token=x.y.z', at, 8192)?.token, 'x.y.z')
  assert.equal(searchWithout('?a=1&x=;access_token=B&b=2', 'access_token'), '?a=1&b=2')
  assert.equal(searchWithout('?a=1;b=2&c=3', 'access_token'), '?a=1;b=2&c=3')
  // A `;` inside a value, no `name=` after it: part of the value, never a bare copy.
  const token: TokenSource[] = [{ kind: 'query', name: 'token' }]
  assert.equal(extractToken(new Headers(), '?q=rust;token', token, 8192), undefined)
  assert.equal(extractToken(new Headers(), '?q=rust;Token=x.y.z', token, 8192), undefined)
  assert.equal(searchWithout('?q=rust;token&x=1', 'token'), '?q=rust;token&x=1')
})

const PROTOCOL: TokenSource[] = [{ kind: 'authorization' }, { kind: 'protocol', name: 'bearer' }]
const UPGRADE = { upgrade: 'websocket', connection: 'Upgrade' }

test('extractToken() reads a WebSocket token after its marker in Sec-WebSocket-Protocol', () => {
  const found = extract(
    { ...UPGRADE, 'sec-websocket-protocol': `chat.v1, bearer, ${JWT}` },
    PROTOCOL,
  )
  assert.equal(found?.token, JWT)
  assert.deepEqual(found?.source, { kind: 'protocol', name: 'bearer' })
  // The marker is matched whole and case-sensitively (subprotocols are, RFC 6455 §11.3.4).
  assert.equal(
    extract({ ...UPGRADE, 'sec-websocket-protocol': `Bearer, ${JWT}` }, PROTOCOL),
    undefined,
  )
  assert.equal(
    extract({ ...UPGRADE, 'sec-websocket-protocol': `bearerx, ${JWT}` }, PROTOCOL),
    undefined,
  )
  // Authorization first, in the configured order.
  const both = extract({
    ...UPGRADE,
    authorization: `Bearer ${JWT}`,
    'sec-websocket-protocol': 'bearer, other.token.here',
  }, PROTOCOL)
  assert.deepEqual(both?.source, { kind: 'authorization' })
})

test('a protocol token counts only on a WebSocket upgrade; a marker without its token, or twice, is malformed', () => {
  assert.equal(extract({ 'sec-websocket-protocol': `bearer, ${JWT}` }, PROTOCOL), undefined)
  assert.equal(
    extract({ upgrade: 'h2c', 'sec-websocket-protocol': `bearer, ${JWT}` }, PROTOCOL),
    undefined,
  )
  assert.equal(
    code(() => extract({ ...UPGRADE, 'sec-websocket-protocol': 'chat, bearer' }, PROTOCOL)),
    'token_malformed',
  )
  assert.equal(
    code(() =>
      extract({ ...UPGRADE, 'sec-websocket-protocol': `bearer, ${JWT}, bearer, ${JWT}` }, PROTOCOL)
    ),
    'token_malformed',
  )
  assert.equal(
    code(() => extract({ ...UPGRADE, 'sec-websocket-protocol': 'bearer, not-a-jwt' }, PROTOCOL)),
    'token_malformed',
  )
})

test('parseTokenSource() reads protocol:marker; the marker must be a token', () => {
  assert.deepEqual(parseTokenSource('protocol:bearer'), { kind: 'protocol', name: 'bearer' })
  assert.deepEqual(parseTokenSource('protocol:jwt.v1'), { kind: 'protocol', name: 'jwt.v1' })
  assert.equal(parseTokenSource('protocol:a,b'), undefined)
  assert.equal(parseTokenSource('protocol: '), undefined)
})
