/**
 * An itty-router app guarded in the same process: jwtgate's routes, providers and requirements
 * decide, and the app's handlers receive the verified claims (no second hop, no upstream).
 * Run: JWTGATE_SECRET=… JWTGATE_REQUIRED_SCOPES=orders:read PORT=8080 bun examples/itty-router.ts
 */
import { AutoRouter } from 'itty-router'
import { serve } from '../src/adapters/bun.ts'
import { type Guarded, loadConfig, protect } from '../src/mod.ts'

const app = AutoRouter()
app.get('/orders/:id', (request, who: Guarded) => ({
  order: request.params.id,
  for: who.claims?.sub,
}))

// local: the configuration guards this process; no JWTGATE_UPSTREAM.
const config = await loadConfig(process.env, { local: true })
const guarded = protect(config, (request, who) => app.fetch(request, who))
const server = await serve(guarded, {
  hostname: '127.0.0.1',
  port: Number(process.env.PORT ?? 8080),
})
console.log(`listening on http://127.0.0.1:${server.port}`)
