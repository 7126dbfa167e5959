import assert from 'node:assert/strict'
import { envInput } from '../../../src/core/config/env.ts'
import { test } from '../../helpers/t.ts'

function reader(files: Record<string, string>) {
  const read: string[] = []
  const readFile = (path: string) => {
    read.push(path)
    if (!(path in files)) throw new Error('ENOENT')
    return files[path]!
  }
  return { readFile, read }
}

const lines = (issues: readonly { path: string; message: string }[]) =>
  issues.map((i) => `${i.path}: ${i.message}`)

test('envInput() keeps the JWTGATE_ variables and ignores every other one', () => {
  const { input, issues, origin } = envInput({
    JWTGATE_UPSTREAM: 'http://a',
    JWTGATE_PORT: '9000',
    PATH: '/bin',
    jwtgate_port: '1',
  })
  assert.deepEqual(input, { JWTGATE_UPSTREAM: 'http://a', JWTGATE_PORT: '9000' })
  assert.deepEqual(issues, [])
  assert.deepEqual(origin, {})
})

test('envInput() treats empty and blank values as unset, also for _FILE forms', () => {
  const { readFile, read } = reader({})
  const { input, issues } = envInput({
    JWTGATE_PORT: '',
    JWTGATE_AUDIENCE: '  \t',
    JWTGATE_SECRET_FILE: ' ',
    JWTGATE_SECRET: '',
    JWTGATE_UNKNOWN: '',
    JWTGATE_HOST: undefined,
  }, readFile)
  assert.deepEqual(input, {})
  assert.deepEqual(issues, [])
  assert.deepEqual(read, [])
})

test('envInput() reads a _FILE variable into its variable without one trailing newline', () => {
  const { readFile } = reader({
    '/run/secrets/s': 'secret-text\n',
    '/run/secrets/k': 'line 1\nline 2\r\n',
    '/run/secrets/two': 'value\n\n',
  })
  const { input, issues, origin } = envInput({
    JWTGATE_SECRET_FILE: '/run/secrets/s',
    JWTGATE_PUBLIC_KEY_FILE: '/run/secrets/k',
  }, readFile)
  assert.deepEqual(issues, [])
  assert.deepEqual(input, { JWTGATE_SECRET: 'secret-text', JWTGATE_PUBLIC_KEY: 'line 1\nline 2' })
  assert.deepEqual(origin, {
    JWTGATE_SECRET: 'JWTGATE_SECRET_FILE',
    JWTGATE_PUBLIC_KEY: 'JWTGATE_PUBLIC_KEY_FILE',
  })
  // Only the editor's one newline goes: a value may end in a newline of its own.
  assert.equal(
    envInput({ JWTGATE_SECRET_FILE: '/run/secrets/two' }, readFile).input.JWTGATE_SECRET,
    'value\n',
  )
})

test('envInput() reports a _FILE variable it cannot read, or that duplicates its variable', () => {
  const { readFile, read } = reader({ '/s': 'x' })
  assert.deepEqual(lines(envInput({ JWTGATE_SECRET_FILE: '/missing' }, readFile).issues), [
    'JWTGATE_SECRET_FILE: cannot read the file it names',
  ])
  const both = envInput({ JWTGATE_SECRET: 'inline', JWTGATE_SECRET_FILE: '/s' }, readFile)
  assert.deepEqual(lines(both.issues), [
    'JWTGATE_SECRET_FILE: set either JWTGATE_SECRET or JWTGATE_SECRET_FILE, not both',
  ])
  assert.deepEqual(both.input, { JWTGATE_SECRET: 'inline' })
  assert.deepEqual(read, ['/missing'])
  assert.deepEqual(lines(envInput({ JWTGATE_PUBLIC_KEY_FILE: '/k' }).issues), [
    'JWTGATE_PUBLIC_KEY_FILE: files cannot be read here; pass the value in the variable itself',
  ])
})

test('envInput() reports unknown JWTGATE_ variables, with the closest known name when one is close', () => {
  const { input, issues } = envInput({
    JWTGATE_UPSTREAM_TIMOUT: '5s',
    JWTGATE_SECERT_FILE: '/s',
    JWTGATE_ZZZZZZZZZZZZ: '1',
    JWTGATE_PORT: '1',
  })
  assert.deepEqual(lines(issues), [
    'JWTGATE_UPSTREAM_TIMOUT: unknown variable (did you mean JWTGATE_UPSTREAM_TIMEOUT?)',
    'JWTGATE_SECERT_FILE: unknown variable (did you mean JWTGATE_SECRET_FILE?)',
    'JWTGATE_ZZZZZZZZZZZZ: unknown variable',
  ])
  assert.deepEqual(input, { JWTGATE_PORT: '1' })
})
