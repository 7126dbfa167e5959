/**
 * jwtgate embedded in a Bun app, served as the binary serves it.
 * Run: JWTGATE_UPSTREAM=http://127.0.0.1:3000 JWTGATE_SECRET=… PORT=8080 bun examples/bun.ts
 * (Published, the imports are 'jwtgate' and 'jwtgate/bun'.)
 */
import { runtimeDeps, serve } from '../src/adapters/bun.ts'
import { createGateway, loadConfig } from '../src/mod.ts'

const gateway = createGateway(await loadConfig(process.env), {
  ...runtimeDeps,
  connectionIdleMs: 120_000,
})
const server = await serve(gateway, {
  hostname: '127.0.0.1',
  port: Number(process.env.PORT ?? 8080),
  idleTimeoutSec: 120,
})
console.log(`listening on http://127.0.0.1:${server.port}`)
