import { createGateway, loadConfig } from './src/mod.ts'
import { runtimeDeps } from './src/adapters/deno.ts'
const gateway = createGateway(await loadConfig(Deno.env.toObject()), { ...runtimeDeps })
Deno.serve({ hostname: '127.0.0.1', port: Number(Deno.env.get('JWTGATE_PORT')), onListen() {} }, (req, info) => gateway.fetch(req, { clientAddress: (info.remoteAddr as Deno.NetAddr).hostname, protocol: 'http' }))
