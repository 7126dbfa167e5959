/**
 * Files for the end-to-end and security suites (not collected: no `.test.`): temporary config
 * files, self-signed certificates and keys made with openssl, and JWK Set servers. (The gateway
 * process, its signals and log events: process.ts.)
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { JWK } from 'jose'

/** A fresh temporary directory for config files; `remove()` deletes it and everything in it. */
export class TempDir {
  readonly dir = mkdtempSync(join(tmpdir(), 'jwtgate-'))
  #n = 0

  /** Writes `text` to `name` in the directory and returns its path. */
  write(name: string, text: string): string {
    const path = join(this.dir, name)
    writeFileSync(path, text)
    return path
  }

  /** Replaces `name` atomically (write a sibling, rename over), as editors and deploy tools do. */
  replace(name: string, text: string): string {
    const path = join(this.dir, name)
    const tmp = join(this.dir, `.${name}.${++this.#n}.tmp`)
    writeFileSync(tmp, text)
    renameSync(tmp, path)
    return path
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true })
  }
}

/** A JWK Set server on 127.0.0.1 (at /jwks) whose `keys` a test can swap; counts the fetches it answered. */
export function jwksServer(keys: JWK[] = [], port = 0) {
  const state = { keys, fetches: 0 }
  const server = Bun.serve({
    hostname: '127.0.0.1',
    port,
    fetch(request) {
      if (new URL(request.url).pathname !== '/jwks') {
        return new Response('not found', { status: 404 })
      }
      state.fetches++
      return Response.json({ keys: state.keys })
    },
  })
  return Object.assign(state, {
    url: `http://127.0.0.1:${server.port}/jwks`,
    stop: () => server.stop(true),
  })
}

/** A self-signed P-256 certificate for 127.0.0.1/localhost, made with openssl in `dir`. */
export function selfSigned(
  dir: string,
  name: string,
): { cert: string; key: string; certPem: string } {
  const cert = join(dir, `${name}-cert.pem`)
  const key = join(dir, `${name}-key.pem`)
  const r = spawnSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
      '-keyout',
      key,
      '-out',
      cert,
    ],
    { encoding: 'utf8', timeout: 10_000 },
  )
  if (r.status !== 0) throw new Error(`openssl req failed: ${r.stderr}`)
  return { cert, key, certPem: readFileSync(cert, 'utf8') }
}

/** A second P-256 private key in PEM (PKCS#8), matching no certificate. */
export function otherKey(dir: string, name: string): string {
  const key = join(dir, `${name}-key.pem`)
  const r = spawnSync('openssl', [
    'genpkey',
    '-algorithm',
    'EC',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-out',
    key,
  ], { encoding: 'utf8', timeout: 10_000 })
  if (r.status !== 0) throw new Error(`openssl genpkey failed: ${r.stderr}`)
  return key
}
