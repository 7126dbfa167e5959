/**
 * The release (`npm run release`, run by `npm test` before this suite): one executable per target
 * in dist/release/ and their checksums. The linux-x64 one is run end to end (a token through it to
 * an upstream); every other one, which cannot run here, is checked by its header — ELF machine and
 * interpreter (the musl ones must ask for ld-musl), Mach-O CPU type, PE machine — its size and its
 * checksum line (`sha256sum -c`).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { execFileSync, spawnSync } from 'node:child_process'
import { closeSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { secret, sign } from '../helpers/keys.ts'
import { ROOT, runTarget, startGateway, type Target } from '../helpers/process.ts'
import { recordingUpstream } from '../helpers/serve.ts'

const DIR = join(ROOT, 'dist', 'release')
const version =
  (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string })
    .version

/** What each release file must be, read from its first bytes. */
const EXPECTED: Record<string, string> = {
  'jwtgate-linux-x64': 'ELF x86-64 /lib64/ld-linux-x86-64.so.2',
  'jwtgate-linux-arm64': 'ELF aarch64 /lib/ld-linux-aarch64.so.1',
  'jwtgate-linux-x64-musl': 'ELF x86-64 /lib/ld-musl-x86_64.so.1',
  'jwtgate-linux-arm64-musl': 'ELF aarch64 /lib/ld-musl-aarch64.so.1',
  'jwtgate-darwin-x64': 'Mach-O x86_64',
  'jwtgate-darwin-arm64': 'Mach-O arm64',
  'jwtgate-windows-x64.exe': 'PE x86-64',
}

const ELF_MACHINES: Record<number, string> = { 0x3e: 'x86-64', 0xb7: 'aarch64' }
const MACHO_CPUS: Record<number, string> = { 0x01000007: 'x86_64', 0x0100000c: 'arm64' }
const PE_MACHINES: Record<number, string> = { 0x8664: 'x86-64', 0xaa64: 'arm64' }

/** "ELF <machine> <interpreter>", "Mach-O <cpu>" or "PE <machine>", from the file's headers. */
function describeExecutable(bytes: Uint8Array): string {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (view.getUint32(0) === 0x7f454c46) {
    // ELF64, little-endian: e_machine, then the PT_INTERP program header's string.
    const machine = ELF_MACHINES[view.getUint16(0x12, true)] ?? 'unknown'
    const phoff = Number(view.getBigUint64(0x20, true))
    const phentsize = view.getUint16(0x36, true)
    let interpreter = 'static'
    for (let i = 0; i < view.getUint16(0x38, true); i++) {
      const ph = phoff + i * phentsize
      if (view.getUint32(ph, true) !== 3) continue
      const offset = Number(view.getBigUint64(ph + 8, true))
      const size = Number(view.getBigUint64(ph + 32, true))
      interpreter = new TextDecoder().decode(bytes.subarray(offset, offset + size)).replace(
        /\0+$/,
        '',
      )
    }
    return `ELF ${machine} ${interpreter}`
  }
  if (view.getUint32(0, true) === 0xfeedfacf) {
    return `Mach-O ${MACHO_CPUS[view.getUint32(4, true)] ?? 'unknown'}`
  }
  if (view.getUint16(0) === 0x4d5a) {
    const pe = view.getUint32(0x3c, true)
    if (view.getUint32(pe) !== 0x50450000) return 'MZ without PE'
    return `PE ${PE_MACHINES[view.getUint16(pe + 4, true)] ?? 'unknown'}`
  }
  return 'unknown'
}

/** The first 64 KiB: enough for every header read here. */
function head(path: string): Uint8Array {
  const bytes = new Uint8Array(65536)
  const fd = openSync(path, 'r')
  try {
    return bytes.subarray(0, readSync(fd, bytes, 0, bytes.length, 0))
  } finally {
    closeSync(fd)
  }
}

describe('dist/release', () => {
  test(
    'holds one executable per target; SHA256SUMS has a line for each and for every npm tarball, which sha256sum -c accepts',
    () => {
      const sums = readFileSync(join(DIR, 'SHA256SUMS'), 'utf8')
      const lines = sums.trimEnd().split('\n')
      const named = lines.map((l) => l.slice(66))
      expect(named.filter((n) => !n.startsWith('npm/')).sort()).toEqual(
        Object.keys(EXPECTED).sort(),
      )
      expect(named.filter((n) => n.startsWith('npm/')).sort()).toEqual(
        readdirSync(join(DIR, 'npm')).filter((f) => f.endsWith('.tgz')).map((f) => `npm/${f}`)
          .sort(),
      )
      for (const line of lines) {
        expect(line).toMatch(/^[0-9a-f]{64} {2}(jwtgate-[a-z0-9-]+(\.exe)?|npm\/[a-z0-9.-]+\.tgz)$/)
      }
      const check = spawnSync('sha256sum', ['-c', 'SHA256SUMS'], { cwd: DIR, encoding: 'utf8' })
      expect({ status: check.status, out: check.stdout.trim().split('\n').length }).toEqual({
        status: 0,
        out: lines.length,
      })
    },
    60_000,
  ) // ~1.5 GB to hash: the executables and the tarballs holding them

  for (const [name, expected] of Object.entries(EXPECTED)) {
    test(`${name} is ${expected}, of a plausible size`, () => {
      const path = join(DIR, name)
      expect(describeExecutable(head(path))).toBe(expected)
      const mb = statSync(path).size / 2 ** 20
      expect(mb).toBeGreaterThan(40)
      expect(mb).toBeLessThan(200)
    })
  }

  test('the header reader tells every target apart, and reads no header from a script', () => {
    const described = Object.keys(EXPECTED).map((name) => describeExecutable(head(join(DIR, name))))
    expect(new Set(described).size).toBe(Object.keys(EXPECTED).length)
    expect(describeExecutable(new TextEncoder().encode('#!/bin/sh\necho hi\n'))).toBe('unknown')
  })
})

describe('dist/release/jwtgate-linux-x64, end to end', () => {
  const binary: Target = { name: 'jwtgate-linux-x64', command: [join(DIR, 'jwtgate-linux-x64')] }
  const key = secret(32)
  let upstream: Awaited<ReturnType<typeof recordingUpstream>>

  beforeAll(async () => {
    upstream = await recordingUpstream()
  })

  afterAll(async () => {
    await upstream.close()
  })

  test('--version prints the version, the commit it was built from and its target', async () => {
    const { code, stdout } = await runTarget(binary, ['--version'], {})
    expect(code).toBe(0)
    const head = execFileSync('git', ['-C', ROOT, 'rev-parse', '--short=12', 'HEAD'], {
      encoding: 'utf8',
    }).trim()
    expect(stdout).toMatch(
      new RegExp(
        `^jwtgate ${
          version.replaceAll('.', '\\.')
        } \\(commit ${head}(-dirty)?, bun-linux-x64\\)\n$`,
      ),
    )
  })

  test('a token goes through it to the upstream, with the claim header; none without', async () => {
    const gateway = await startGateway(binary, {
      JWTGATE_UPSTREAM: upstream.url,
      JWTGATE_SECRET: key.config,
      JWTGATE_FORWARD_CLAIMS: 'sub=X-User-Id',
    })
    try {
      const token = await sign({ sub: 'alice' }, { alg: 'HS256', key: key.raw })
      const allowed = await fetch(`${gateway.url}/orders/1`, {
        headers: { authorization: `Bearer ${token}` },
      })
      expect(allowed.status).toBe(200)
      expect(await allowed.json()).toEqual({ path: '/orders/1' })
      expect(upstream.seen.at(-1)?.headers.get('x-user-id')).toBe('alice')
      const before = upstream.seen.length
      expect((await fetch(`${gateway.url}/orders/1`)).status).toBe(401)
      expect(upstream.seen.length).toBe(before)
    } finally {
      await gateway.kill()
    }
  })
})
