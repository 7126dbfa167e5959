/**
 * A Hono app guarded in the same process by jwtgate's middleware: the configuration's routes,
 * providers and requirements decide; handlers read the verified claims with `c.get('jwtgate')`.
 * Run: JWTGATE_SECRET=… JWTGATE_REQUIRED_SCOPES=orders:read PORT=8080 bun examples/hono.ts
 * (Published, the imports are 'jwtgate', 'jwtgate/hono' and 'jwtgate/bun'.)
 */
import { Hono } from 'hono'
import { serve } from '../src/adapters/bun.ts'
import { jwtgate, type JwtgateVariables } from '../src/adapters/hono.ts'
import { createVerifier, loadConfig } from '../src/mod.ts'

const verifier = createVerifier(await loadConfig(process.env, { local: true }))
const app = new Hono<{ Variables: JwtgateVariables }>()
app.use('*', jwtgate(verifier))
app.get(
  '/orders/:id',
  (c) => c.json({ order: c.req.param('id'), for: c.get('jwtgate').claims?.sub }),
)

const server = await serve((request) => app.fetch(request), {
  hostname: '127.0.0.1',
  port: Number(process.env.PORT ?? 8080),
})
console.log(`listening on http://127.0.0.1:${server.port}`)
