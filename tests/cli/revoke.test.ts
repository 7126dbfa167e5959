import { expect, test } from 'bun:test'
import { loadConfig } from '../../src/core/config/load.ts'
import { tokenHash } from '../../src/core/revocation/entry.ts'
import { RevocationList } from '../../src/core/revocation/list.ts'
import { parseTime, revocationFromFlags } from '../../src/cli/revoke.ts'
import {
  appendRevocation,
  FileRevocations,
  parseRevocationsFile,
} from '../../src/cli/revocations.ts'
import { createLogger } from '../../src/core/log.ts'
import type { Host } from '../../src/cli/host.ts'
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const NOW = 1_800_000_000
const config = await loadConfig({
  JWTGATE_UPSTREAM: 'http://127.0.0.1:1',
  JWTGATE_SECRET: 'k'.repeat(40),
  JWTGATE_REVOCATIONS_MAX_TOKEN_LIFETIME: '1h',
})

test('parseTime(): now, seconds, ISO 8601; nothing else', () => {
  expect(parseTime('now', NOW)).toBe(NOW)
  expect(parseTime('1700000000', NOW)).toBe(1_700_000_000)
  expect(parseTime('2026-12-01T10:00:00Z', NOW)).toBe(Date.UTC(2026, 11, 1, 10) / 1000)
  expect(parseTime('2026-12-01', NOW)).toBe(Date.UTC(2026, 11, 1) / 1000)
  for (const bad of ['tomorrow', '-5', '1e9', '2026-13-45T99:00:00Z', '']) {
    expect(parseTime(bad, NOW)).toBeUndefined()
  }
})

test('revoke flags → entries; a token is kept as its hash, its exp read from its payload', async () => {
  const noToken = () => Promise.reject(new Error('no stdin'))
  expect(await revocationFromFlags({ sub: 'alice', before: 'now' }, config, NOW, noToken))
    .toEqual({ kind: 'sub', sub: 'alice', iss: undefined, before: NOW, until: NOW + 3600 + 3600 })
  expect(await revocationFromFlags({ issuer: 'https://i' }, config, NOW, noToken))
    .toMatchObject({ kind: 'issuer', iss: 'https://i', before: NOW + 1 + 30 }) // + the clock skew
  const payload = btoa(JSON.stringify({ sub: 'a', exp: NOW + 60 })).replace(/=+$/, '')
  const token = `eyJhbGciOiJIUzI1NiJ9.${payload}.c2ln`
  const viaFlag = await revocationFromFlags({ token }, config, NOW, noToken)
  expect(viaFlag).toEqual({ kind: 'token', hash: await tokenHash(token), until: NOW + 60 + 3600 })
  const viaStdin = await revocationFromFlags(
    { token: '-' },
    config,
    NOW,
    () => Promise.resolve(`${token}\n`),
  )
  expect(viaStdin).toEqual(viaFlag)
  expect(JSON.stringify(viaFlag)).not.toContain(payload)
})

test('revoke flags: what is wrong, named by flag', async () => {
  const none = () => Promise.resolve('')
  expect(await revocationFromFlags({ sub: 'a', jti: 'b' }, config, NOW, none))
    .toBe('give exactly one of --jti, --token, --sub, --issuer')
  expect(await revocationFromFlags({ jti: 'a', before: 'now' }, config, NOW, none))
    .toBe('--before applies to --sub and --issuer revocations')
  expect(await revocationFromFlags({ sub: 'a', before: 'yesterday' }, config, NOW, none))
    .toMatch(/^--before must be seconds since the epoch/)
  expect(await revocationFromFlags({ token: 'not-a-jwt' }, config, NOW, none))
    .toBe('the --token value is not a compact JWT')
  expect(await revocationFromFlags({ sub: 'a', until: '1' }, config, NOW, none))
    .toMatch(/^the revocation would be over already: it ends at 1 \(--until, or --exp plus/)
})

test('a revocations file: JSON lines, comments and blanks allowed; bad lines named', () => {
  expect(
    parseRevocationsFile('# revoked\n\n{"jti":"a","exp":9}\n{"sub":"b","before":5}\n', NOW, 60),
  )
    .toMatchObject({ entries: [{ kind: 'jti' }, { kind: 'sub', before: 5 }] })
  // Times are required in a file: filled in from the clock, a line would change on every reload.
  expect(parseRevocationsFile('{"jti":"a"}\n{"sub":"b"}\n', NOW, 60)).toEqual({
    problems: [
      'line 1: a line of the file needs "exp" or "until" (jwtgate revoke writes them)',
      'line 2: a line of the file needs "before" (jwtgate revoke writes it)',
    ],
  })
  expect(parseRevocationsFile('{"jti":"a","until":9}\nnope\n{"sub":"","before":1}\n', NOW, 60))
    .toEqual({
      problems: [
        'line 2: not JSON',
        'line 3: "sub" must be a non-empty string of at most 1024 characters',
      ],
    })
})

test('FileRevocations: loads, appends, reloads on change; a bad edit keeps the list in force', () => {
  const files: Record<string, string> = {}
  let changed: (() => void) | undefined
  const host = {
    readFile(path: string) {
      if (!(path in files)) throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' })
      return files[path]!
    },
    appendFile(path: string, text: string) {
      files[path] = (files[path] ?? '') + text
    },
    watchFile(_: string, listener: () => void) {
      changed = listener
      return () => {}
    },
  } as unknown as Host
  const lines: string[] = []
  const logger = createLogger({ level: 'info', format: 'json', sink: (l) => lines.push(l) })
  const list = new RevocationList()
  const file = new FileRevocations(host, '/r.jsonl', list, {
    logger,
    now: () => NOW * 1000,
    maxLifetimeSec: 60,
  })
  expect(file.load()).toBeUndefined()
  expect(list.size).toBe(0)
  file.watch()
  void file.revoke({ kind: 'jti', jti: 'j', iss: undefined, until: NOW + 100 })
  expect(files['/r.jsonl']).toBe('{"jti":"j","until":1800000100}\n')
  expect(list.revoked({ jti: 'j' })).toBe('jti')
  files['/r.jsonl'] += `{"sub":"s","before":${NOW}}\n`
  changed!()
  expect(list.size).toBe(2)
  files['/r.jsonl'] += 'oops\n'
  changed!()
  expect(list.size).toBe(2)
  expect(lines.map((l) => JSON.parse(l).event)).toEqual([
    'revocations_synced',
    'revocations_reload_failed',
  ])
  // The file gone after start (deleted, a volume unmounted): no revocation is lifted.
  delete files['/r.jsonl']
  changed!()
  expect(list.revoked({ jti: 'j' })).toBe('jti')
  expect(JSON.parse(lines.at(-1)!)).toMatchObject({
    event: 'revocations_reload_failed',
    problem: 'the revocations file /r.jsonl is gone',
  })
  // Emptied on purpose: the list is cleared.
  files['/r.jsonl'] = ''
  changed!()
  expect(list.size).toBe(0)
  files['/r.jsonl'] = 'garbage'
  expect(file.load()).toMatch(/line 1: not JSON/)
})

/** A revocations file in a new directory, and a host that reads and appends to it for real. */
function revocationsFile() {
  const dir = mkdtempSync(join(tmpdir(), 'jwtgate-revocations-'))
  const host = {
    readFile: (p: string) => readFileSync(p, 'utf8'),
    appendFile: (p: string, text: string) => appendFileSync(p, text),
  } as unknown as Host
  return { dir, path: join(dir, 'revocations.jsonl'), host }
}

test('appendRevocation(): a line of its own after a last line without a newline; the same revocation not twice; a file that does not load is an error', () => {
  // A real file, as `jwtgate revoke` appends to it and every gateway reads it.
  const { dir, path, host } = revocationsFile()
  const entry = (jti: string) => ({ kind: 'jti', jti, iss: undefined, until: NOW + 100 }) as const
  const load = () => parseRevocationsFile(readFileSync(path, 'utf8'), NOW, 3600)
  try {
    appendRevocation(host, path, entry('a'), NOW, 3600) // created
    for (const [i, lastLine] of ['# added by hand', `{"jti":"b","until":${NOW + 100}}`].entries()) {
      writeFileSync(path, `${readFileSync(path, 'utf8')}${lastLine}`) // no newline at its end
      appendRevocation(host, path, entry(`c${i}`), NOW, 3600)
      const loaded = load()
      expect('entries' in loaded).toBe(true)
      expect(
        readFileSync(path, 'utf8').endsWith(`${lastLine}\n{"jti":"c${i}","until":${NOW + 100}}\n`),
      ).toBe(true)
    }
    // The same revocation again (a retried POST /revocations): the file does not grow.
    const size = readFileSync(path, 'utf8').length
    appendRevocation(host, path, entry('a'), NOW, 3600)
    appendRevocation(host, path, entry('c1'), NOW, 3600)
    expect(readFileSync(path, 'utf8').length).toBe(size)
    // A line no gateway can read: the revocation is written, and said not to be in force.
    writeFileSync(path, `${readFileSync(path, 'utf8')}oops\n`)
    expect(() => appendRevocation(host, path, entry('d'), NOW, 3600)).toThrow(
      /revocations file .* does not load \(line \d+: not JSON\): the revocation is written/,
    )
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('appendRevocation() for a writer without a list (jwtgate revoke): a file holding revocations.maxEntries in force takes no more — expired ones and the same one again do not count', () => {
  const { dir, path, host } = revocationsFile()
  const entry = (jti: string, until = NOW + 100) =>
    ({ kind: 'jti', jti, iss: undefined, until }) as const
  try {
    writeFileSync(path, `{"jti":"old","until":${NOW - 10}}\n`)
    appendRevocation(host, path, entry('a'), NOW, 3600, 2)
    appendRevocation(host, path, entry('b'), NOW, 3600, 2)
    expect(() => appendRevocation(host, path, entry('c'), NOW, 3600, 2)).toThrow(
      /^the revocations file is full \(2 entries in force, revocations.maxEntries\): not written$/,
    )
    expect(readFileSync(path, 'utf8')).not.toContain('"c"')
    appendRevocation(host, path, entry('a'), NOW, 3600, 2) // stored already: nothing to do
    // Without the bound (a gateway's own write: it checked its list), as before.
    appendRevocation(host, path, entry('c'), NOW, 3600)
    expect(readFileSync(path, 'utf8')).toContain('"c"')
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
