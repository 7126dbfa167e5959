#!/usr/bin/env node
// The npm packages, from the release executables (run after them by scripts/build.mjs --release):
//   dist/npm/jwtgate/                 the library (ES modules and type declarations, built by tsc
//                                     from src/) with `jwtgate/bun`, `/deno`, `/node` adapters,
//                                     and the `jwtgate` command (launcher.mjs)
//   dist/npm/cli-<target>/            one package per executable, chosen by npm through its os,
//                                     cpu and libc fields (optional dependencies of the main one)
// and their tarballs in dist/release/npm/ (npm pack).
import { execFileSync } from 'node:child_process'
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../..', import.meta.url))
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
const out = join(root, 'dist', 'npm')
const tarballs = join(root, 'dist', 'release', 'npm')

/** Each target's npm fields (`libc` only on Linux, where glibc and musl builds differ). */
function platform(target) {
  const [os, arch, libc] = target.split('-')
  return {
    os: [os === 'windows' ? 'win32' : os],
    cpu: [arch],
    ...(os === 'linux' ? { libc: [libc === 'musl' ? 'musl' : 'glibc'] } : {}),
  }
}

export function buildPackages(targets) {
  rmSync(out, { recursive: true, force: true })
  rmSync(tarballs, { recursive: true, force: true })
  mkdirSync(tarballs, { recursive: true })
  const main = join(out, 'jwtgate')
  // The library: one .js and one .d.ts per module, imports rewritten to .js. Type-checked by npm
  // test already (tsc and deno check); here only emitted (the adapters name Bun and Deno).
  const adapters = ['bun', 'deno', 'node', 'hono'].filter((a) =>
    existsSync(join(root, 'src', 'adapters', `${a}.ts`))
  )
  execFileSync(join(root, 'node_modules', '.bin', 'tsc'), [
    '--ignoreConfig',
    '--noCheck',
    '--declaration',
    '--rewriteRelativeImportExtensions',
    '--allowImportingTsExtensions',
    '--target',
    'ES2022',
    '--module',
    'ESNext',
    '--moduleResolution',
    'bundler',
    '--skipLibCheck',
    '--types',
    '',
    '--rootDir',
    join(root, 'src'),
    '--outDir',
    join(main, 'lib'),
    join(root, 'src', 'mod.ts'),
    ...adapters.map((a) => join(root, 'src', 'adapters', `${a}.ts`)),
  ], { stdio: 'inherit' })
  mkdirSync(join(main, 'bin'), { recursive: true })
  copyFileSync(join(root, 'scripts', 'npm', 'launcher.mjs'), join(main, 'bin', 'jwtgate.mjs'))
  for (const file of ['README.md', 'CHANGELOG.md', 'SECURITY.md']) {
    copyFileSync(join(root, file), join(main, file))
  }
  const exports = { '.': { types: './lib/mod.d.ts', default: './lib/mod.js' } }
  for (const a of adapters) {
    exports[`./${a}`] = { types: `./lib/adapters/${a}.d.ts`, default: `./lib/adapters/${a}.js` }
  }
  writeFileSync(
    join(main, 'package.json'),
    `${
      JSON.stringify(
        {
          name: 'jwtgate',
          version: pkg.version,
          description: pkg.description,
          license: pkg.license,
          type: 'module',
          exports,
          bin: { jwtgate: 'bin/jwtgate.mjs' },
          files: ['lib', 'bin', 'README.md', 'CHANGELOG.md', 'SECURITY.md'],
          sideEffects: false,
          engines: { node: '>=20' },
          dependencies: libraryDependencies(pkg.dependencies),
          optionalDependencies: Object.fromEntries(
            targets.map((t) => [`@jwtgate/cli-${t}`, pkg.version]),
          ),
        },
        null,
        2,
      )
    }\n`,
  )
  const packed = [pack(main)]
  for (const target of targets) {
    const dir = join(out, `cli-${target}`)
    const exe = target.startsWith('windows') ? 'jwtgate.exe' : 'jwtgate'
    mkdirSync(dir, { recursive: true })
    cpSync(
      join(
        root,
        'dist',
        'release',
        `jwtgate-${target}${target.startsWith('windows') ? '.exe' : ''}`,
      ),
      join(dir, exe),
    )
    writeFileSync(
      join(dir, 'package.json'),
      `${
        JSON.stringify(
          {
            name: `@jwtgate/cli-${target}`,
            version: pkg.version,
            description: `The jwtgate executable for ${target} (installed by the jwtgate package).`,
            license: pkg.license,
            ...platform(target),
            files: [exe],
            preferUnplugged: true,
          },
          null,
          2,
        )
      }\n`,
    )
    packed.push(pack(dir))
  }
  return packed
}

function pack(dir) {
  const result = execFileSync('npm', ['pack', '--json', '--pack-destination', tarballs], {
    cwd: dir,
    encoding: 'utf8',
  })
  return join(tarballs, JSON.parse(result)[0].filename)
}

/**
 * The library's dependencies: the project's, but for those only the command uses — its Redis
 * client is bundled into the executables, and the library never imports it.
 */
function libraryDependencies(all) {
  const { ioredis: _commandOnly, ...library } = all
  return library
}
