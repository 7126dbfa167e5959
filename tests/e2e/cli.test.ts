/** The compiled binary's command line: check, serve's refusal, --version, --help and demo. */
import { afterAll, describe, expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { secret } from '../helpers/keys.ts'
import { BINARY, freePort, ROOT, type Running, runTarget, spawnTarget } from '../helpers/process.ts'

const VALID = { JWTGATE_UPSTREAM: 'http://127.0.0.1:3000', JWTGATE_SECRET: secret(32).config }
const TEN_BYTES = '0123456789'

/** The variables named at the start of `name: message` problem lines. */
function problemVariables(stderr: string): string[] {
  return stderr
    .split('\n')
    .filter((line) => /^JWTGATE_[A-Z_]+: /.test(line))
    .map((line) => line.slice(0, line.indexOf(':')))
    .sort()
}

describe('dist/jwtgate check', () => {
  test('check with a valid configuration exits 0, prints "configuration OK" and no secret', async () => {
    const { code, stdout, stderr } = await runTarget(BINARY, ['check'], VALID)
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' })
    expect(stdout).toContain('configuration OK')
    expect(stdout).toContain('upstream: http://127.0.0.1:3000')
    expect(stdout).not.toContain(VALID.JWTGATE_SECRET.slice(7))
  })

  const single: [string, Record<string, string>, string][] = [
    ['a port that is not a number', { ...VALID, JWTGATE_PORT: 'abc' }, 'JWTGATE_PORT'],
    ['a 10-byte secret', { ...VALID, JWTGATE_SECRET: TEN_BYTES }, 'JWTGATE_SECRET'],
    ['a missing upstream', { JWTGATE_SECRET: VALID.JWTGATE_SECRET }, 'JWTGATE_UPSTREAM'],
  ]
  for (const [what, env, variable] of single) {
    test(`check with ${what} exits 1 naming ${variable}`, async () => {
      const { code, stdout, stderr } = await runTarget(BINARY, ['check'], env)
      expect(code).toBe(1)
      expect(stdout).toBe('')
      expect(problemVariables(stderr)).toEqual([variable])
      expect(stderr).toContain('jwtgate: the configuration is invalid')
    })
  }

  test('check reports every problem at once, one line per variable', async () => {
    const { code, stderr } = await runTarget(BINARY, ['check'], {
      JWTGATE_PORT: 'abc',
      JWTGATE_SECRET: TEN_BYTES,
    })
    expect(code).toBe(1)
    expect(problemVariables(stderr)).toEqual(['JWTGATE_PORT', 'JWTGATE_SECRET', 'JWTGATE_UPSTREAM'])
  })

  test('check without any JWTGATE_* variable fails and suggests `jwtgate demo`', async () => {
    const { code, stderr } = await runTarget(BINARY, ['check'], {})
    expect(code).not.toBe(0)
    expect(stderr).toContain('jwtgate demo')
  })

  test('serve with an invalid configuration exits non-zero and never listens', async () => {
    const port = freePort()
    const env = {
      ...VALID,
      JWTGATE_HOST: '127.0.0.1',
      JWTGATE_PORT: String(port),
      JWTGATE_SECRET: TEN_BYTES,
    }
    const { code, stdout, stderr } = await runTarget(BINARY, ['serve'], env)
    expect(code).not.toBe(0)
    expect(stdout).not.toContain('"event":"start"')
    expect(stderr).toContain('refusing to start')
    expect(await fetch(`http://127.0.0.1:${port}/healthz`).then(() => 'connected', () => 'refused'))
      .toBe('refused')
  })

  test('--version prints the version in package.json, the commit and the target', async () => {
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      version: string
    }
    const { code, stdout } = await runTarget(BINARY, ['--version'], {})
    expect(code).toBe(0)
    // The build stamps the commit and the target in (scripts/build.mjs).
    expect(stdout).toMatch(
      new RegExp(
        `^jwtgate ${
          version.replaceAll('.', '\\.')
        } \\(commit [0-9a-f]{12}(-dirty)?, bun-linux-x64\\)\n$`,
      ),
    )
  })

  test('--help exits 0 and prints the usage', async () => {
    const { code, stdout } = await runTarget(BINARY, ['--help'], {})
    expect(code).toBe(0)
    expect(stdout).toContain('Usage:')
    expect(stdout).toContain('JWTGATE_UPSTREAM')
  })

  test('an unknown command exits 2', async () => {
    const { code, stderr } = await runTarget(BINARY, ['frobnicate'], VALID)
    expect(code).toBe(2)
    expect(stderr).toContain('unknown command "frobnicate"')
  })
})

describe('dist/jwtgate demo', () => {
  const running: Running[] = []
  afterAll(async () => {
    await Promise.all(running.map((r) => r.kill()))
  })

  /** Starts the demo and reads the gateway URL (first line) and the token it printed. */
  function startDemo(port: string) {
    const demo = spawnTarget(BINARY, ['demo'], { JWTGATE_PORT: port })
    running.push(demo)
    return demo.waitFor((stdout) => {
      const base = /^jwtgate demo: gateway on (http:\/\/127\.0\.0\.1:(\d+)) → /.exec(stdout)
      const token = /^TOKEN=(\S+)$/m.exec(stdout)
      return base && token
        ? { demo, base: base[1]!, port: Number(base[2]), token: token[1]! }
        : undefined
    })
  }

  test('demo prints a token that works against the gateway it starts', async () => {
    const port = freePort()
    const { demo, base, token, port: listening } = await startDemo(String(port))
    expect(listening).toBe(port)

    const allowed = await fetch(`${base}/hello`, { headers: { authorization: `Bearer ${token}` } })
    expect(allowed.status).toBe(200)
    const echoed = (await allowed.json()) as { path: string; headers: Record<string, string> }
    expect(echoed.path).toBe('/hello')
    expect(echoed.headers['x-user-id']).toBe('demo-user')
    expect(echoed.headers['x-user-scope']).toBe('read write')
    expect(echoed.headers.authorization).toBeUndefined()

    const missing = await fetch(`${base}/hello`)
    expect(missing.status).toBe(401)
    expect(missing.headers.get('www-authenticate')).toBe('Bearer realm="jwtgate"')
    expect(((await missing.json()) as { code: string }).code).toBe('token_missing')

    const open = await fetch(`${base}/public/info`)
    expect(open.status).toBe(200)

    expect(await demo.kill()).toBe(0)
    // The token is printed for the user on stdout; the request log (stderr) never carries it.
    expect(demo.stderr()).toContain('decision=allowed')
    expect(demo.stderr()).not.toContain(token)
  })

  test('demo with JWTGATE_PORT=0 listens on a free port, as serve does', async () => {
    const { port } = await startDemo('0')
    expect(port).not.toBe(0)
    expect(port).not.toBe(8080)
  })
})
