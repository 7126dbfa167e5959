import assert from 'node:assert/strict'
import { loadConfig } from '../../../src/core/config/load.ts'
import { decodeSecret, readValueFile, resolveSecret } from '../../../src/core/config/secrets.ts'
import type { ConfigIssue } from '../../../src/core/errors.ts'
import { test } from '../../helpers/t.ts'

const files: Record<string, string> = {
  '/lf': 'value\n',
  '/crlf': 'value\r\n',
  '/plain': 'value',
  '/two': 'value\n\n',
}
const readFile = (path: string) => {
  if (!(path in files)) throw new Error('ENOENT')
  return files[path]!
}

test('decodeSecret(): UTF-8 text, or base64 / base64url bytes after base64:', () => {
  assert.deepEqual(decodeSecret('ab'), new Uint8Array([97, 98]))
  assert.deepEqual(decodeSecret('base64:AAEC'), new Uint8Array([0, 1, 2]))
  assert.deepEqual(decodeSecret('base64:_-8='), new Uint8Array([255, 239]))
  assert.deepEqual(decodeSecret('base64: AAEC '), new Uint8Array([0, 1, 2]))
  assert.equal(decodeSecret('base64:***'), undefined)
  assert.equal(decodeSecret('base64:A'), undefined)
})

test('readValueFile() drops one trailing newline (LF or CRLF) and nothing else', () => {
  const issues: ConfigIssue[] = []
  assert.equal(readValueFile('/lf', readFile, 'p', issues), 'value')
  assert.equal(readValueFile('/crlf', readFile, 'p', issues), 'value')
  assert.equal(readValueFile('/plain', readFile, 'p', issues), 'value')
  assert.equal(readValueFile('/two', readFile, 'p', issues), 'value\n')
  assert.deepEqual(issues, [])
})

test('readValueFile() reports an unreadable file, or no reader, at its place', () => {
  const issues: ConfigIssue[] = []
  assert.equal(readValueFile('/missing', readFile, 'here', issues), undefined)
  assert.equal(readValueFile('/lf', undefined, 'there', issues), undefined)
  assert.equal(readValueFile('/lf', undefined, 'JWTGATE_X_FILE', issues, 'no files'), undefined)
  assert.deepEqual(issues, [
    // Not its path: what was given may be the secret itself (JWTGATE_SECRET_FILE=<the secret>).
    { path: 'here', message: 'cannot read the file it names' },
    { path: 'there', message: 'files cannot be read here' },
    { path: 'JWTGATE_X_FILE', message: 'no files' },
  ])
})

test('resolveSecret(): inline, { env }, { file } — a missing or empty variable is a problem', () => {
  const issues: ConfigIssue[] = []
  const env = { SET: 'from-env', EMPTY: '' }
  assert.equal(resolveSecret(undefined, 'p', env, readFile, issues), undefined)
  assert.equal(resolveSecret('inline', 'p', env, readFile, issues), 'inline')
  assert.equal(resolveSecret({ env: 'SET' }, 'p', env, readFile, issues), 'from-env')
  assert.equal(resolveSecret({ file: '/crlf' }, 'p', env, readFile, issues), 'value')
  assert.deepEqual(issues, [])
  resolveSecret({ env: 'UNSET' }, 'a', env, readFile, issues)
  resolveSecret({ env: 'EMPTY' }, 'b', env, readFile, issues)
  resolveSecret({ file: '/missing' }, 'c', env, readFile, issues)
  assert.deepEqual(issues, [
    { path: 'a', message: 'environment variable UNSET is not set' },
    { path: 'b', message: 'environment variable EMPTY is not set' },
    { path: 'c', message: 'cannot read the file it names' },
  ])
})

test('a _FILE variable and a { file } secret of the file read the same value', async () => {
  const text = 'k'.repeat(40)
  const read = (path: string) => {
    if (path === '/secret') return `${text}\r\n`
    if (path === '/c.yaml') {
      return 'providers: { p: { secret: { file: /secret } } }\n' +
        'upstreams: { a: { url: "http://a" } }\nroutes: [{ path: /*, upstream: a }]\n'
    }
    throw new Error('ENOENT')
  }
  const fromEnv = await loadConfig(
    { JWTGATE_UPSTREAM: 'http://a', JWTGATE_SECRET_FILE: '/secret' },
    {
      readFile: read,
    },
  )
  const fromFile = await loadConfig({ JWTGATE_CONFIG: '/c.yaml' }, { readFile: read })
  // The imported key verifies a MAC made with the text itself: no newline got into the secret.
  const bytes = new TextEncoder().encode(text)
  const mine = await crypto.subtle.importKey(
    'raw',
    bytes,
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    [
      'sign',
    ],
  )
  const mac = await crypto.subtle.sign('HMAC', mine, bytes)
  for (const c of [fromEnv, fromFile]) {
    const key = c.providers[0]!.keys.local[0]!.keys[0]!.key as unknown as CryptoKey
    assert.equal(await crypto.subtle.verify('HMAC', key, mac, bytes), true)
  }
})
