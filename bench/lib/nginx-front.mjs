/**
 * @module nginx in front, as teams run it: `nginx-alone` proxies to the upstream with no auth
 * (what the front proxy costs by itself), `nginx-jwtgate` asks jwtgate in auth mode on every
 * request (`auth_request`, the README's configuration) and sends the `sub` it answers as
 * X-User-Id. One nginx process, one worker, keep-alive to the upstream and to jwtgate.
 */
import fs from 'node:fs'
import path from 'node:path'
import { HOST } from './http.mjs'
import { nginxPreamble } from './upstream.mjs'

/** The nginx configuration: with `authPort`, every request is checked by jwtgate there first. */
export function nginxFrontConfig({ dir, port, upstreamPort, authPort }) {
  const auth = authPort === undefined ? '' : `
    auth_request /_jwtgate;
    auth_request_set $jwt_user $upstream_http_x_user_id;
    proxy_set_header X-User-Id $jwt_user;`
  const check = authPort === undefined ? '' : `
  upstream jwtgate { server ${HOST}:${authPort}; keepalive 64; }`
  const checkLocation = authPort === undefined ? '' : `
    location = /_jwtgate {
      internal;
      proxy_pass http://jwtgate;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-Method $request_method;
      proxy_set_header X-Original-URI $request_uri;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }`
  return `${
    nginxPreamble(dir, 'bench/lib/nginx-front.mjs')
  }  upstream api { server ${HOST}:${upstreamPort}; keepalive 64; }${check}
  server {
    listen ${HOST}:${port} backlog=4096;
    keepalive_requests 10000000;${checkLocation}
    location / {${auth}
      proxy_pass http://api;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`
}

/** `{ cmd, args, env }` for nginx in front (and jwtgate beside it, for `nginx-jwtgate`). */
export function nginxFront(name, alg, port, ctx, jwtgateEnv) {
  const dir = path.join(ctx.workDir, `${name}-${alg}-${port}`)
  fs.mkdirSync(dir, { recursive: true })
  const authPort = name === 'nginx-jwtgate' ? port + 100 : undefined
  const conf = path.join(dir, 'nginx.conf')
  fs.writeFileSync(
    conf,
    nginxFrontConfig({ dir, port, upstreamPort: ctx.upstreamPort, authPort }),
  )
  if (authPort === undefined) {
    return { cmd: 'nginx', args: ['-c', conf, '-p', dir], env: {} }
  }
  // Both under one shell, so the run measures (and stops) them as one process tree.
  const script = path.join(dir, 'run.sh')
  fs.writeFileSync(
    script,
    `#!/usr/bin/env bash
"$BENCH_JWTGATE_BIN" & j=$!
nginx -c "${conf}" -p "${dir}" & n=$!
trap 'kill $j $n 2>/dev/null; wait' TERM INT
wait -n
kill $j $n 2>/dev/null
wait
`,
  )
  return {
    cmd: 'bash',
    args: [script],
    env: {
      ...jwtgateEnv,
      BENCH_JWTGATE_BIN: ctx.jwtgate,
      JWTGATE_MODE: 'auth',
      JWTGATE_AUTH_HEADERS: 'original',
      JWTGATE_PORT: String(authPort),
    },
  }
}
