/**
 * @module The configurations measured, and how to start each for one algorithm on one port.
 * All of them do the same work in front of the same upstream: verify the bearer token (signature,
 * alg pinned, exp), send `sub` upstream as X-User-Id (replacing a client's copy), drop the
 * Authorization header, keep upstream connections alive. bun-passthrough does no auth at all:
 * it is the ceiling, not a competitor; bun-floor adds to it only what every gateway must do.
 */
import fs from 'node:fs'
import path from 'node:path'
import { haproxyConfig } from './haproxy.mjs'
import { nginxFront } from './nginx-front.mjs'
import { HOST } from './http.mjs'

/** In report order. `jit`: worth a warm-up before measuring. */
export const CONFIGS = [
  {
    name: 'bun-passthrough',
    auth: false,
    jit: true,
    what: 'Bun.serve + fetch, no auth (the ceiling)',
  },
  {
    name: 'bun-floor',
    auth: false,
    jit: true,
    what:
      'bun-passthrough + what any gateway must add (forwarding headers, request id, timeout, hop-by-hop removal), no auth',
  },
  { name: 'jwtgate', auth: true, jit: true, what: 'dist/jwtgate' },
  // A second build of jwtgate (BENCH_BIN_B) for an A/B of two commits in the same rounds; only
  // when CONFIGS names it.
  {
    name: 'jwtgate-b',
    auth: true,
    jit: true,
    optional: true,
    what: 'BENCH_BIN_B: another build of jwtgate, given the same environment',
  },
  // Deno's three run only when CONFIGS names them (deno-floor and deno-passthrough are references).
  {
    name: 'deno-passthrough',
    auth: false,
    jit: true,
    optional: true,
    what: 'Deno.serve + fetch, no auth (the Deno ceiling)',
  },
  {
    name: 'deno-floor',
    auth: false,
    jit: true,
    optional: true,
    what: "bun-floor's work in Deno's API (peers/deno-floor.ts), no auth",
  },
  {
    name: 'jwtgate-deno',
    auth: true,
    jit: true,
    optional: true,
    what: 'deno run src/deno.ts, one process (JWTGATE_WORKERS=1)',
  },
  {
    name: 'jwtgate-redis',
    auth: true,
    jit: true,
    what:
      'dist/jwtgate + a rate limit in Redis on every request (JWTGATE_RATE_LIMIT, JWTGATE_REDIS_URL)',
  },
  {
    name: 'nginx-alone',
    auth: false,
    jit: false,
    what: 'nginx as a front proxy, no auth (what the front proxy costs by itself)',
  },
  {
    name: 'nginx-jwtgate',
    auth: true,
    jit: true,
    what:
      'nginx auth_request → dist/jwtgate in auth mode (forward authentication), then the upstream',
  },
  {
    name: 'haproxy-jwt',
    auth: true,
    jit: false,
    what: 'HAProxy native jwt_verify (C)',
  },
  {
    name: 'bun-jose',
    auth: true,
    jit: true,
    what: 'Bun + jose jwtVerify on every request',
  },
  {
    name: 'hono-bun',
    auth: true,
    jit: true,
    what: 'Hono jwt middleware + hono/proxy on Bun',
  },
  {
    name: 'fastify-jwt',
    auth: true,
    jit: true,
    what: '@fastify/jwt + @fastify/http-proxy (Node)',
  },
  {
    name: 'express-jwt',
    auth: true,
    jit: true,
    what: 'express-jwt + http-proxy-middleware (Node)',
  },
]

/** jwtgate with JWTGATE_WORKERS=n: the workers run (`WORKERS=1,2,4`). */
export function workersConfig(n) {
  return {
    name: `jwtgate-w${n}`,
    auth: true,
    jit: true,
    what: `dist/jwtgate, JWTGATE_WORKERS=${n}`,
  }
}

/**
 * `{ cmd, args, env }` for `name` verifying `alg` on `port`. `ctx`: { bench, checkout, bun, deno,
 * node, jwtgate, jwtgateB, upstreamPort, tokens, workDir, haproxyThreads }.
 */
export function command(name, alg, port, ctx) {
  const upstream = `http://${HOST}:${ctx.upstreamPort}`
  const peer = (file, runtime) => ({
    cmd: runtime,
    args: [path.join(ctx.bench, 'peers', file)],
    env: {
      NODE_ENV: 'production',
      BENCH_UPSTREAM: upstream,
      BENCH_PORT: String(port),
      BENCH_ALG: alg,
      BENCH_SECRET: ctx.tokens.secret,
      BENCH_PUBLIC_KEY: ctx.tokens.publicPem,
    },
  })
  const workers = /^jwtgate-w(\d+)$/.exec(name)
  if (workers !== null) {
    const spec = command('jwtgate', alg, port, ctx)
    return { ...spec, env: { ...spec.env, JWTGATE_WORKERS: workers[1] } }
  }
  if (name === 'nginx-alone' || name === 'nginx-jwtgate') {
    const spec = command('jwtgate', alg, port, ctx)
    const { JWTGATE_UPSTREAM: _none, ...auth } = spec.env
    return nginxFront(name, alg, port, ctx, auth)
  }
  if (name === 'jwtgate-b') {
    if (ctx.jwtgateB === undefined) {
      throw new Error('jwtgate-b needs BENCH_BIN_B (a jwtgate binary)')
    }
    return { ...command('jwtgate', alg, port, ctx), cmd: ctx.jwtgateB }
  }
  if (name === 'jwtgate-deno') {
    const spec = command('jwtgate', alg, port, ctx)
    return {
      cmd: ctx.deno,
      args: ['run', '-A', path.join(ctx.checkout, 'src', 'deno.ts')],
      env: { ...spec.env, JWTGATE_WORKERS: '1', DENO_NO_UPDATE_CHECK: '1' },
    }
  }
  if (name === 'jwtgate-redis') {
    const spec = command('jwtgate', alg, port, ctx)
    // A limit no request reaches (100,000 a second per subject): every request takes from
    // its bucket in Redis, one EVALSHA each, and passes.
    return {
      ...spec,
      env: {
        ...spec.env,
        JWTGATE_RATE_LIMIT: '100000/1s',
        JWTGATE_REDIS_URL: `redis://${HOST}:${ctx.redisPort}`,
      },
    }
  }
  switch (name) {
    case 'jwtgate':
      // Exactly what a user would set; nothing else of JWTGATE_* reaches it (proc.mjs).
      return {
        cmd: ctx.jwtgate,
        args: [],
        env: {
          JWTGATE_UPSTREAM: upstream,
          JWTGATE_PORT: String(port),
          JWTGATE_HOST: HOST,
          ...(alg === 'HS256'
            ? { JWTGATE_SECRET: ctx.tokens.secret }
            : { JWTGATE_PUBLIC_KEY: ctx.tokens.publicPem }),
          JWTGATE_FORWARD_CLAIMS: 'sub=X-User-Id',
          JWTGATE_LOG_LEVEL: 'warn',
        },
      }
    case 'haproxy-jwt': {
      const file = path.join(ctx.workDir, `haproxy-${alg}-${port}.cfg`)
      const key = alg === 'HS256'
        ? ctx.tokens.secret
        : path.join(ctx.workDir, 'tokens', 'rsa-public.pem')
      fs.writeFileSync(
        file,
        haproxyConfig({
          alg,
          key,
          port,
          upstreamPort: ctx.upstreamPort,
          threads: ctx.haproxyThreads,
        }),
      )
      return { cmd: 'haproxy', args: ['-db', '-f', file], env: {} }
    }
    case 'bun-passthrough':
      return peer('bun-passthrough.ts', ctx.bun)
    case 'bun-floor':
      return peer('bun-floor.ts', ctx.bun)
    case 'deno-passthrough':
    case 'deno-floor': {
      const spec = peer(`${name}.ts`, ctx.deno)
      return {
        ...spec,
        args: ['run', '-A', ...spec.args],
        env: { ...spec.env, DENO_NO_UPDATE_CHECK: '1' },
      }
    }
    case 'bun-jose':
      return peer('bun-jose.ts', ctx.bun)
    case 'hono-bun':
      return peer('hono-bun.ts', ctx.bun)
    case 'fastify-jwt':
      return peer('fastify-jwt.mjs', ctx.node)
    case 'express-jwt':
      return peer('express-jwt.mjs', ctx.node)
  }
  throw new Error(`unknown config ${name}`)
}
