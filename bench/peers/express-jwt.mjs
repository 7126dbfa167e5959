/**
 * express-jwt: express with express-jwt (jsonwebtoken) and http-proxy-middleware, on Node.
 * Set up the way a production service would be, not the slowest way:
 * - the key is a KeyObject: given a string, jsonwebtoken parses it again on every request;
 * - the proxy gets a keep-alive agent: by default it opens a new upstream connection per request.
 */
import crypto from 'node:crypto'
import http from 'node:http'
import express from 'express'
import { expressjwt } from 'express-jwt'
import { createProxyMiddleware } from 'http-proxy-middleware'

const env = process.env
const key = env.BENCH_ALG === 'HS256'
  ? crypto.createSecretKey(Buffer.from(env.BENCH_SECRET))
  : crypto.createPublicKey(env.BENCH_PUBLIC_KEY)

const app = express()
app.disable('x-powered-by')
app.disable('etag')
app.use(expressjwt({ secret: key, algorithms: [env.BENCH_ALG] }))
app.use(
  createProxyMiddleware({
    target: env.BENCH_UPSTREAM,
    agent: new http.Agent({ keepAlive: true, maxSockets: 256 }),
    on: {
      proxyReq(proxyRequest, request) {
        proxyRequest.removeHeader('authorization')
        proxyRequest.setHeader('x-user-id', String(request.auth.sub))
      },
    },
  }),
)
// express-jwt's UnauthorizedError (and anything else) ends here.
app.use((error, _request, response, _next) => {
  response
    .status(error.status ?? 500)
    .set('www-authenticate', 'Bearer error="invalid_token"')
    .json({ status: error.status ?? 500, detail: error.message })
})

app.listen(Number(env.BENCH_PORT), '127.0.0.1')
