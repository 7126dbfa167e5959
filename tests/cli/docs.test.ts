// The API reference (`npm run docs`) shows an example for every function and class the entry
// points export, and for each entry module: `deno doc --lint` checks that each has a doc comment,
// this checks the `@example`.
import { expect, test } from 'bun:test'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../../', import.meta.url))
const ENTRY_POINTS = [
  'src/mod.ts',
  'src/adapters/bun.ts',
  'src/adapters/deno.ts',
  'src/adapters/node.ts',
  'src/adapters/hono.ts',
]

interface JsDoc {
  readonly tags?: readonly { readonly kind: string }[]
}
interface DocJson {
  readonly nodes: Record<string, {
    readonly module_doc?: JsDoc
    readonly symbols: readonly {
      readonly name: string
      readonly declarations: readonly { readonly kind: string; readonly jsDoc?: JsDoc }[]
    }[]
  }>
}

const hasExample = (doc: JsDoc | undefined) => doc?.tags?.some((t) => t.kind === 'example') ?? false

const result = spawnSync(`${root}node_modules/.bin/deno`, ['doc', '--json', ...ENTRY_POINTS], {
  cwd: root,
  encoding: 'utf8',
  env: { ...process.env, NO_COLOR: '1' },
  maxBuffer: 64 * 1024 * 1024,
})

test('deno doc reads every entry point', () => {
  expect(result.status).toBe(0)
  const doc = JSON.parse(result.stdout) as DocJson
  expect(Object.keys(doc.nodes).map((url) => url.slice(`file://${root}`.length)).sort()).toEqual(
    [...ENTRY_POINTS].sort(),
  )
})

test('every exported function and class, and every entry module, has an @example', () => {
  const doc = JSON.parse(result.stdout) as DocJson
  const missing: string[] = []
  let checked = 0
  for (const [url, node] of Object.entries(doc.nodes)) {
    const entry = url.slice(`file://${root}`.length)
    if (!hasExample(node.module_doc)) missing.push(`${entry}: @module`)
    for (const symbol of node.symbols) {
      for (const declaration of symbol.declarations) {
        if (declaration.kind !== 'function' && declaration.kind !== 'class') continue
        checked++
        if (!hasExample(declaration.jsDoc)) {
          missing.push(`${entry}: ${declaration.kind} ${symbol.name}`)
        }
      }
    }
  }
  expect(missing).toEqual([])
  // createGateway, protect, createVerifier, loadConfig, createLogger, the errors, Metrics, serve ×3,
  // jwtgate: a shape change in deno doc's JSON must not make this test pass by finding nothing.
  expect(checked).toBeGreaterThanOrEqual(15)
})
