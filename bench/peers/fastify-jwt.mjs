/**
 * fastify-jwt: fastify with @fastify/jwt (fast-jwt; no verification cache configured) in an
 * onRequest hook, and @fastify/http-proxy (undici, keep-alive) to the upstream. On Node.
 */
import fastifyHttpProxy from '@fastify/http-proxy'
import fastifyJwt from '@fastify/jwt'
import Fastify from 'fastify'

const env = process.env
const app = Fastify({ logger: false })

await app.register(fastifyJwt, {
  secret: env.BENCH_ALG === 'HS256' ? env.BENCH_SECRET : { public: env.BENCH_PUBLIC_KEY },
  verify: { algorithms: [env.BENCH_ALG] },
})
// Every verification failure is a 401 (fastify would answer some malformed tokens with a 400).
app.addHook('onRequest', async (request, reply) => {
  try {
    await request.jwtVerify()
  } catch (e) {
    return reply.code(401).header(
      'www-authenticate',
      'Bearer error="invalid_token"',
    ).send({
      status: 401,
      detail: e.message,
    })
  }
})
await app.register(fastifyHttpProxy, {
  upstream: env.BENCH_UPSTREAM,
  replyOptions: {
    rewriteRequestHeaders(request, headers) {
      const { authorization: _, ...rest } = headers
      return { ...rest, 'x-user-id': String(request.user.sub) }
    },
  },
})

await app.listen({ host: '127.0.0.1', port: Number(env.BENCH_PORT) })
