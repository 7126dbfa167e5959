/**
 * Helpers for the configuration-file suites (not collected: no `.test.`): temporary config files
 * and JWK Set servers. (The gateway process, its signals and log events: ../helpers/process.ts.)
 */
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs'
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

/** A JWK Set server on 127.0.0.1 (at /jwks) that counts the fetches it answered. */
export function jwksServer(keys: JWK[]) {
  const state = { keys, fetches: 0 }
  const server = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
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
