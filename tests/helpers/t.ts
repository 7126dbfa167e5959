/**
 * One test registrar for both runners: `bun test` and `deno test` collect the same case files.
 * Cases import assertions from `node:assert/strict` and nothing runner-specific.
 */
type Fn = () => void | Promise<void>
type Register = (name: string, fn: Fn, timeoutMs?: number) => void

const deno = (globalThis as {
  Deno?: {
    test(o: { name: string; fn: Fn; sanitizeOps: boolean; sanitizeResources: boolean }): void
  }
}).Deno

async function pick(): Promise<Register> {
  if (deno !== undefined) {
    return (name, fn) => deno.test({ name, fn, sanitizeOps: false, sanitizeResources: false })
  }
  const runner = 'bun:test'
  const { test: bunTest } = (await import(runner)) as {
    test: (n: string, f: Fn, t?: number) => void
  }
  return (name, fn, timeoutMs) => bunTest(name, fn, timeoutMs)
}

/** Registers a test with whichever runner loaded this file. */
export const test: Register = await pick()

/** True under Deno (for the few cases whose expectations differ by runtime). */
export const isDeno = deno !== undefined

/** An environment variable under either runtime. */
export function envVar(name: string): string | undefined {
  if (deno !== undefined) {
    return (deno as unknown as { env: { get(n: string): string | undefined } }).env.get(name)
  }
  return (globalThis as unknown as { process: { env: Record<string, string | undefined> } }).process
    .env[name]
}
