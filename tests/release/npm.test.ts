/**
 * The npm packages the release writes (dist/release/npm/): the main `jwtgate` tarball and one per
 * executable. Installed as a user would — `npm install` of the main tarball and the linux-x64 one
 * into an empty project (the other platforms' optional dependencies are skipped) — then
 * `npx jwtgate --version`, and the library imported by Node, Bun and Deno.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort, ROOT, sleep } from '../helpers/process.ts'
import { secret, sign } from '../helpers/keys.ts'
import { recordingUpstream } from '../helpers/serve.ts'

const DIR = join(ROOT, 'dist', 'release', 'npm')
const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  version: string
}
const TARGETS = [
  'linux-x64',
  'linux-arm64',
  'linux-x64-musl',
  'linux-arm64-musl',
  'darwin-x64',
  'darwin-arm64',
  'windows-x64',
]

/** The files of a tarball (`tar -tzf`), without the `package/` prefix. */
function listing(tarball: string): string[] {
  return execFileSync('tar', ['-tzf', join(DIR, tarball)], { encoding: 'utf8' })
    .trim().split('\n').map((f) => f.replace(/^package\//, '')).sort()
}

/** A file of a tarball, read with `tar -xOzf`. */
function read(tarball: string, file: string): string {
  return execFileSync('tar', ['-xOzf', join(DIR, tarball), `package/${file}`], { encoding: 'utf8' })
}

describe('dist/release/npm', () => {
  test('one main tarball and one per executable, nothing else', () => {
    expect(readdirSync(DIR).sort()).toEqual(
      [`jwtgate-${version}.tgz`, ...TARGETS.map((t) => `jwtgate-cli-${t}-${version}.tgz`)].sort(),
    )
  })

  test('the main package: built modules and declarations, the launcher, an exports map, no sources or tests', () => {
    const files = listing(`jwtgate-${version}.tgz`)
    expect(files).toContain('lib/mod.js')
    expect(files).toContain('lib/mod.d.ts')
    expect(files).toContain('bin/jwtgate.mjs')
    expect(
      files.filter((f) =>
        !/^(lib\/.+\.(js|d\.ts)|bin\/jwtgate\.mjs|package\.json|README\.md|CHANGELOG\.md|SECURITY\.md)$/
          .test(f)
      ),
    ).toEqual([])
    const pkg = JSON.parse(read(`jwtgate-${version}.tgz`, 'package.json'))
    expect(pkg.version).toBe(version)
    expect(pkg.sideEffects).toBe(false)
    expect(pkg.bin).toEqual({ jwtgate: 'bin/jwtgate.mjs' })
    expect(Object.keys(pkg.exports)).toEqual(expect.arrayContaining(['.', './bun', './deno']))
    expect(pkg.scripts).toBeUndefined()
    expect(Object.keys(pkg.optionalDependencies).sort()).toEqual(
      TARGETS.map((t) => `@jwtgate/cli-${t}`).sort(),
    )
  })

  for (const target of TARGETS) {
    test(`@jwtgate/cli-${target}: the executable alone, chosen by os, cpu and libc`, () => {
      const tarball = `jwtgate-cli-${target}-${version}.tgz`
      const exe = target.startsWith('windows') ? 'jwtgate.exe' : 'jwtgate'
      expect(listing(tarball)).toEqual([exe, 'package.json'].sort())
      const pkg = JSON.parse(read(tarball, 'package.json'))
      const [os, cpu, libc] = target.split('-')
      expect({ os: pkg.os, cpu: pkg.cpu, libc: pkg.libc, scripts: pkg.scripts }).toEqual({
        os: [os === 'windows' ? 'win32' : os],
        cpu: [cpu],
        libc: os === 'linux' ? [libc === 'musl' ? 'musl' : 'glibc'] : undefined,
        scripts: undefined,
      })
    })
  }
})

describe('npm install of the tarballs into an empty project', () => {
  const project = mkdtempSync(join(tmpdir(), 'jwtgate-npm-'))

  beforeAll(() => {
    writeFileSync(
      join(project, 'package.json'),
      '{ "name": "consumer", "version": "1.0.0", "type": "module" }\n',
    )
    execFileSync('npm', [
      'install',
      '--no-audit',
      '--no-fund',
      join(DIR, `jwtgate-${version}.tgz`),
      join(DIR, `jwtgate-cli-linux-x64-${version}.tgz`),
    ], { cwd: project, stdio: 'ignore', timeout: 120_000 })
  }, 130_000)

  afterAll(() => {
    rmSync(project, { recursive: true, force: true })
  })

  test('npx jwtgate --version runs the linux-x64 executable', () => {
    const result = spawnSync('npx', ['--no-install', 'jwtgate', '--version'], {
      cwd: project,
      encoding: 'utf8',
      timeout: 30_000,
    })
    expect(result.status).toBe(0)
    expect(result.stdout).toMatch(
      new RegExp(
        `^jwtgate ${
          version.replaceAll('.', '\\.')
        } \\(commit [0-9a-f]{12}(-dirty)?, bun-linux-x64\\)\n$`,
      ),
    )
  })

  test('the launcher runs only the executable of its own version', () => {
    // Resolution also looks further up the tree and on NODE_PATH: a stray copy of another version
    // must not run in its place.
    const manifest = join(project, 'node_modules', '@jwtgate', 'cli-linux-x64', 'package.json')
    const original = readFileSync(manifest, 'utf8')
    try {
      writeFileSync(manifest, original.replace(`"version": "${version}"`, '"version": "0.0.1"'))
      const result = spawnSync('node', [join(project, 'node_modules/jwtgate/bin/jwtgate.mjs')], {
        cwd: project,
        encoding: 'utf8',
        timeout: 30_000,
      })
      expect(result.status).toBe(1)
      expect(result.stderr).toContain(
        `is @jwtgate/cli-linux-x64@0.0.1, not @jwtgate/cli-linux-x64@${version}`,
      )
    } finally {
      writeFileSync(manifest, original)
    }
  })

  test(
    'a stop signal to the launcher’s whole process group drains once, never forced',
    async () => {
      // Ctrl-C, `kill -- -PGID`, systemd's control-group kill: the executable gets the signal from
      // the group and again from the launcher, a few ms apart — one stop request, not two.
      const upstream = await recordingUpstream(async () => {
        await sleep(400)
        return new Response('slow ok')
      })
      const key = secret(32)
      const child = Bun.spawn(['node', join(project, 'node_modules/jwtgate/bin/jwtgate.mjs')], {
        cwd: project,
        env: {
          PATH: process.env.PATH ?? '',
          JWTGATE_UPSTREAM: upstream.url,
          JWTGATE_SECRET: key.config,
          JWTGATE_HOST: '127.0.0.1',
          JWTGATE_PORT: '0',
        },
        stdout: 'pipe',
        stderr: 'pipe',
        detached: true, // its own process group, as a shell job is
      })
      try {
        const reader = child.stdout.getReader()
        let out = ''
        while (!out.includes('"event":"start"')) {
          const { done, value } = await reader.read()
          if (done) break
          out += new TextDecoder().decode(value)
        }
        // A request in flight: the drain waits for it, so a second signal would cut it.
        const port = /"listen":"127\.0\.0\.1:(\d+)"/.exec(out)![1]
        const token = await sign({ sub: 'alice' }, { alg: 'HS256', key: key.raw })
        const slow = fetch(`http://127.0.0.1:${port}/slow`, {
          headers: { authorization: `Bearer ${token}` },
        }).then((r) => r.text(), (e) => `failed: ${e}`)
        while (upstream.seen.length === 0) await sleep(10)
        process.kill(-child.pid, 'SIGTERM')
        expect(await slow).toBe('slow ok')
        for (;;) {
          const { done, value } = await reader.read()
          if (done) break
          out += new TextDecoder().decode(value)
        }
        expect(await child.exited).toBe(0)
        expect(out).toContain('"event":"shutdown"')
        expect(out).not.toContain('shutdown_forced')
        expect(out).toContain('"event":"stopped"')
      } finally {
        child.kill('SIGKILL')
        await upstream.close()
      }
    },
    20_000,
  )

  /** The README's embedding, as an installed package: a gateway refuses a request without a token. */
  const PROBE = `
    import { createGateway, loadConfig } from 'jwtgate'
    const gateway = createGateway(await loadConfig({ JWTGATE_UPSTREAM: 'http://127.0.0.1:9', JWTGATE_SECRET: 'x'.repeat(32) }))
    const response = await gateway.fetch(new Request('http://app/orders', { headers: { host: 'app' } }))
    const adapter = await import(ADAPTER)
    console.log(JSON.stringify({ status: response.status, challenge: response.headers.get('www-authenticate'), serve: typeof adapter.serve }))
    gateway.close()
  `
  const RUNTIMES = [
    { name: 'node', command: ['node'], adapter: 'jwtgate/node' },
    { name: 'bun', command: [join(ROOT, 'node_modules', '.bin', 'bun')], adapter: 'jwtgate/bun' },
    {
      name: 'deno',
      command: [join(ROOT, 'node_modules', '.bin', 'deno'), 'run', '-A'],
      adapter: 'jwtgate/deno',
    },
  ]

  for (const runtime of RUNTIMES) {
    test(`${runtime.name} imports the library and its adapter from the installed package`, () => {
      const file = join(project, `probe-${runtime.name}.mjs`)
      writeFileSync(file, PROBE.replace('ADAPTER', JSON.stringify(runtime.adapter)))
      const [command, ...args] = runtime.command
      const result = spawnSync(command!, [...args, file], {
        cwd: project,
        encoding: 'utf8',
        timeout: 30_000,
      })
      expect({ status: result.status, stderr: result.stderr }).toEqual({ status: 0, stderr: '' })
      expect(JSON.parse(result.stdout)).toEqual({
        status: 401,
        challenge: 'Bearer realm="jwtgate"',
        serve: 'function',
      })
    })
  }

  /** The README's embedding snippet that starts with `// <marker>`. */
  function snippet(marker: string): string {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
    const found = new RegExp('```(?:ts|js)\\n(// ' + marker + '[\\s\\S]*?)```').exec(readme)
    if (found === null) throw new Error(`no README snippet starting with // ${marker}`)
    return found[1]!
  }

  const SNIPPETS = [
    { marker: 'Bun:', file: 'readme-bun.ts', command: [join(ROOT, 'node_modules', '.bin', 'bun')] },
    {
      marker: 'Deno:',
      file: 'readme-deno.ts',
      command: [join(ROOT, 'node_modules', '.bin', 'deno'), 'run', '-A'],
    },
    { marker: 'Node 20\\+:', file: 'readme-node.mjs', command: ['node'] },
  ]

  for (const { marker, file, command } of SNIPPETS) {
    test(
      `the README's ${
        marker.replace('\\', '')
      } snippet runs unchanged against the installed package (its port aside)`,
      async () => {
        const upstream = await recordingUpstream()
        const key = secret(32)
        const port = freePort()
        // The one change: the snippet's port 8080, which may be taken here, for a free one.
        writeFileSync(join(project, file), snippet(marker).replace('port: 8080', `port: ${port}`))
        const child = Bun.spawn([...command, join(project, file)], {
          cwd: project,
          env: {
            PATH: process.env.PATH ?? '',
            HOME: process.env.HOME ?? '',
            JWTGATE_UPSTREAM: upstream.url,
            JWTGATE_SECRET: key.config,
          },
          stdout: 'ignore',
          stderr: 'pipe',
        })
        try {
          let up = false
          for (let i = 0; i < 100 && !up; i++) {
            up = await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false)
            if (!up) await sleep(100)
          }
          expect(up).toBe(true)
          const token = await sign({ sub: 'alice' }, { alg: 'HS256', key: key.raw })
          const allowed = await fetch(`http://127.0.0.1:${port}/orders/1`, {
            headers: { authorization: `Bearer ${token}` },
          })
          expect(allowed.status).toBe(200)
          expect(upstream.seen.map((s) => s.path)).toEqual(['/orders/1'])
          expect((await fetch(`http://127.0.0.1:${port}/orders/1`)).status).toBe(401)
        } finally {
          child.kill()
          await child.exited
          await upstream.close()
        }
      },
      20_000,
    )
  }
})
