// jwtgate embedded in a Node 20+ process: the gateway in front of JWTGATE_UPSTREAM, served by
// node:http through the Node adapter, configured by the same environment variables as the binary:
//
//   JWTGATE_UPSTREAM=http://127.0.0.1:3000 JWTGATE_SECRET=base64:... node examples/node.mjs
//
// The imports are the published ones (`npm install jwtgate`). In this repository,
// tests/adapters/node.test.mjs runs this file unchanged against bundles of src/mod.ts and
// src/adapters/node.ts installed as `jwtgate` in a temporary node_modules.
import process from 'node:process'
import { createGateway, loadConfig } from 'jwtgate'
import { runtimeDeps, serve } from 'jwtgate/node'

const config = await loadConfig(process.env)
// Connections silent for longer than a stream may be (or an upstream may take to answer) close.
const idleMs = Math.max(config.limits.streamIdleMs, ...config.upstreams.map((u) => u.timeoutMs))
const idleTimeoutSec = config.limits.streamIdleMs > 0 ? Math.ceil(idleMs / 1000) : 0
const gateway = createGateway(config, {
  ...runtimeDeps,
  connectionIdleMs: idleTimeoutSec > 0 ? idleTimeoutSec * 1000 : undefined,
})
const server = await serve(gateway, { hostname: config.host, port: config.port, idleTimeoutSec })
console.log(`jwtgate listening on http://${config.host}:${server.port}`)

// SIGINT/SIGTERM: /readyz turns 503, requests in flight finish, then the process ends.
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, async () => {
    gateway.drain()
    await server.stop()
    gateway.close()
  })
}
