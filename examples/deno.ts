/**
 * jwtgate embedded in a Deno app.
 * Run: JWTGATE_UPSTREAM=http://127.0.0.1:3000 JWTGATE_SECRET=… PORT=8080 deno run -A examples/deno.ts
 * (Published, the imports are 'jwtgate' and 'jwtgate/deno'.)
 */
import { runtimeDeps, serve } from '../src/adapters/deno.ts'
import { createGateway, loadConfig } from '../src/mod.ts'

const gateway = createGateway(await loadConfig(Deno.env.toObject()), runtimeDeps)
const server = await serve(gateway, {
  hostname: '127.0.0.1',
  port: Number(Deno.env.get('PORT') ?? 8080),
})
console.log(`listening on http://127.0.0.1:${server.port}`)
