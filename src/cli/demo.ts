/**
 * @module `jwtgate demo`: the zero-configuration first run. An echo upstream, a fresh ES256 key,
 * a gateway in front, a token valid for an hour, and curl commands to try.
 */
import { exportJWK, generateKeyPair, SignJWT } from 'jose'
import { loadConfig } from '../core/config/load.ts'
import { createGateway } from '../core/gateway.ts'
import { createLogger } from '../core/log.ts'
import { echo } from './echo.ts'
import type { Host, Server } from './host.ts'

export interface DemoRun {
  readonly gatewayPort: number
  readonly token: string
  stop(): Promise<void>
}

/** Listens on the preferred port, or on any free one when it is taken. */
async function listen(
  host: Host,
  handler: Parameters<Host['serve']>[0],
  port: number,
): Promise<Server> {
  try {
    return await host.serve(handler, { host: '127.0.0.1', port })
  } catch {
    return host.serve(handler, { host: '127.0.0.1', port: 0 })
  }
}

/** Starts the demo and prints how to use it. */
export async function startDemo(host: Host): Promise<DemoRun> {
  const upstream = await host.serve(echo, { host: '127.0.0.1', port: 0 })
  const { publicKey, privateKey } = await generateKeyPair('ES256')
  const jwk = { ...(await exportJWK(publicKey)), kid: 'demo', alg: 'ES256', use: 'sig' }
  const config = await loadConfig({
    JWTGATE_UPSTREAM: `http://127.0.0.1:${upstream.port}`,
    JWTGATE_PUBLIC_KEY: JSON.stringify({ keys: [jwk] }),
    JWTGATE_ISSUER: 'jwtgate-demo',
    JWTGATE_AUDIENCE: 'demo-api',
    JWTGATE_FORWARD_CLAIMS: 'sub=X-User-Id,scope=X-User-Scope',
    JWTGATE_PUBLIC_PATHS: '/public/*',
    JWTGATE_LOG_FORMAT: 'pretty',
  })
  const logger = createLogger({ level: 'info', format: 'pretty', sink: host.stderr })
  const gateway = createGateway(config, { ...host.gatewayDeps, logger })
  const requested = host.env.JWTGATE_PORT?.trim()
  const port = requested !== undefined && /^\d{1,5}$/.test(requested) ? Number(requested) : 8080
  const server = await listen(host, gateway.fetch, port)
  const token = await new SignJWT({ scope: 'read write', name: 'Demo User' })
    .setProtectedHeader({ alg: 'ES256', kid: 'demo', typ: 'JWT' })
    .setSubject('demo-user')
    .setIssuer('jwtgate-demo')
    .setAudience('demo-api')
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(privateKey)
  const base = `http://127.0.0.1:${server.port}`
  for (
    const line of [
      `jwtgate demo: gateway on ${base} → echo upstream on http://127.0.0.1:${upstream.port}`,
      '',
      'A token for subject "demo-user", valid for one hour (ES256, key generated just now):',
      '',
      `TOKEN=${token}`,
      '',
      'Allowed (200; the upstream sees X-User-Id: demo-user):',
      `  curl -i -H "Authorization: Bearer $TOKEN" ${base}/hello`,
      'No token (401, WWW-Authenticate: Bearer realm="jwtgate"):',
      `  curl -i ${base}/hello`,
      'Bad token, its signature altered (401, error="invalid_token"):',
      `  curl -i -H "Authorization: Bearer \${TOKEN%?????}AAAAA" ${base}/hello`,
      'Public path, no token needed:',
      `  curl -i ${base}/public/info`,
      '',
      'Press Ctrl-C to stop.',
    ]
  ) {
    host.stdout(line)
  }
  return {
    gatewayPort: server.port,
    token,
    async stop() {
      gateway.close()
      await server.stop(true)
      await upstream.stop(true)
    },
  }
}
