/**
 * Forward authentication end to end (issue 15): jwtgate in auth mode (the binary and deno run)
 * behind a real nginx (`auth_request`) and a real Caddy (`forward_auth`), in front of an upstream
 * that records every request as it arrives on the wire, with the configurations the README gives.
 * A valid token reaches the upstream with the claim headers; no token is 401 with
 * `WWW-Authenticate` at the client; a scope rule is 403; a public route passes; path tricks sent
 * through the proxy never reach a path the rules refuse; a client's own claim header never
 * reaches the upstream. Traefik's and Envoy's conventions are tested against the endpoint itself.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { TempDir } from '../helpers/files.ts'
import { secret, sign } from '../helpers/keys.ts'
import { freePort, type Gateway, startGateway, TARGETS } from '../helpers/process.ts'
import { exchange, type RawUpstream, rawUpstream } from '../helpers/raw-http.ts'
import { pollUntil } from '../helpers/wait.ts'

/** The nginx site of the README (Forward authentication), with the test's ports. */
export function nginxSite(port: number, jwtgate: number, upstream: number): string {
  return `
server {
  listen 127.0.0.1:${port};
  location = /_jwtgate {
    internal;
    proxy_pass http://127.0.0.1:${jwtgate};
    proxy_pass_request_body off;
    proxy_set_header Content-Length "";
    proxy_set_header X-Original-Method $request_method;
    proxy_set_header X-Original-URI $request_uri;
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    proxy_set_header X-Forwarded-Host $host;
    proxy_set_header X-Forwarded-Proto $scheme;
  }
  location / {
    auth_request /_jwtgate;
    auth_request_set $jwt_user $upstream_http_x_user_id;
    auth_request_set $jwt_request_id $upstream_http_x_request_id;
    proxy_set_header X-User-Id $jwt_user;
    proxy_set_header X-Request-Id $jwt_request_id;
    proxy_pass http://127.0.0.1:${upstream};
  }
}`
}

/** The Caddyfile of the README, with the test's ports. */
export function caddySite(port: number, jwtgate: number, upstream: number): string {
  return `{
  admin off
  auto_https off
}
http://127.0.0.1:${port} {
  bind 127.0.0.1
  route {
    request_header -X-User-Id
    forward_auth 127.0.0.1:${jwtgate} {
      uri /
      copy_headers X-User-Id X-Request-Id
    }
    reverse_proxy 127.0.0.1:${upstream}
  }
}
`
}

function nginxConfig(dir: string, site: string): string {
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
    .map((t) => `  ${t}_temp_path ${dir}/${t};`).join('\n')
  return `daemon off;
master_process off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log stderr error;
events { worker_connections 256; }
http {
  access_log off;
${temp}
${site}
}
`
}

/** A process started for the test, stopped in afterAll. */
function run(cmd: string, args: string[], env: Record<string, string> = {}): ChildProcess {
  const child = spawn(cmd, args, {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, ...env },
  })
  child.stderr?.on('data', () => {})
  return child
}

/** One GET with a verbatim request-target over a fresh connection. */
async function get(port: number, target: string, headers: Record<string, string> = {}) {
  const lines = [`GET ${target} HTTP/1.1`, `Host: 127.0.0.1:${port}`, 'Connection: close']
  for (const [n, v] of Object.entries(headers)) lines.push(`${n}: ${v}`)
  const result = await exchange(port, `${lines.join('\r\n')}\r\n\r\n`, { timeoutMs: 5000 })
  const response = result.responses[0]
  if (response === undefined) throw new Error(`no response for ${target}: ${result.error ?? ''}`)
  return response
}

async function listening(port: number, child: ChildProcess): Promise<void> {
  await pollUntil(
    async () => {
      if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode}`)
      try {
        await get(port, '/__ping__')
        return true
      } catch {
        return false
      }
    },
    10_000,
    50,
  )
}

for (const target of TARGETS) {
  describe(`${target.name}: forward authentication behind nginx and Caddy`, () => {
    const key = secret(32)
    const files = new TempDir()
    let upstream: RawUpstream
    let jwtgate: Gateway
    const proxies: { name: string; port: number; child: ChildProcess }[] = []
    let reader: string
    let plain: string

    beforeAll(async () => {
      upstream = await rawUpstream()
      const config = files.write(
        'auth.yaml',
        `mode: auth
providers:
  main: { secret: "${key.config}" }
routes:
  - { name: public, path: /public/*, auth: public }
  - name: orders
    path: /orders/:id
    claimHeaders: { sub: X-User-Id }
    require: { scopes: { all: [orders:read] } }
  - { name: admin, path: /admin/*, claimHeaders: { sub: X-User-Id }, require: { roles: { any: [admin] } } }
  - { name: other, path: /*, claimHeaders: { sub: X-User-Id } }
`,
      )
      // nginx sends X-Original-*, Caddy X-Forwarded-*: one jwtgate each, pinned to its proxy's.
      const [forNginx, forCaddy] = await Promise.all(
        (['original', 'forwarded'] as const).map((headers) =>
          startGateway(target, {
            JWTGATE_CONFIG: config,
            JWTGATE_AUTH_HEADERS: headers,
            JWTGATE_WORKERS: '1',
          }, { timeoutMs: 20_000 })
        ),
      )
      jwtgate = forNginx!
      // Envoy's HTTP ext_authz: path_prefix /ext_authz, the original path after it, no headers.
      extraGateways.push(
        await startGateway(target, {
          JWTGATE_CONFIG: config,
          JWTGATE_AUTH_PATH: '/ext_authz',
          JWTGATE_WORKERS: '1',
        }, { timeoutMs: 20_000 }),
      )
      const nginxDir = join(files.dir, 'nginx')
      mkdirSync(nginxDir, { recursive: true })
      const nginxPort = freePort()
      const nginxFile = files.write(
        'nginx.conf',
        nginxConfig(nginxDir, nginxSite(nginxPort, forNginx!.port, upstream.port)),
      )
      const nginx = run('nginx', ['-c', nginxFile, '-p', nginxDir])
      const caddyPort = freePort()
      const caddyFile = files.write(
        'Caddyfile',
        caddySite(caddyPort, forCaddy!.port, upstream.port),
      )
      const caddy = run('caddy', ['run', '--config', caddyFile, '--adapter', 'caddyfile'], {
        HOME: files.dir,
        XDG_DATA_HOME: files.dir,
        XDG_CONFIG_HOME: files.dir,
      })
      proxies.push({ name: 'nginx', port: nginxPort, child: nginx })
      proxies.push({ name: 'caddy', port: caddyPort, child: caddy })
      await Promise.all(proxies.map((p) => listening(p.port, p.child)))
      extraGateways.unshift(forCaddy!)
      reader = await sign({ sub: 'alice', scope: 'orders:read' }, { alg: 'HS256', key: key.raw })
      plain = await sign({ sub: 'mallory' }, { alg: 'HS256', key: key.raw })
    }, 40_000)
    const extraGateways: Gateway[] = []

    afterAll(async () => {
      for (const p of proxies) p.child.kill('SIGKILL')
      await Promise.all([jwtgate?.kill(), ...extraGateways.map((g) => g.kill())])
      await upstream?.close()
      files.remove()
    })

    /** What the upstream saw for requests whose target contains `marker`. */
    const seenWith = (marker: string) => upstream.seen.filter((s) => s.target.includes(marker))

    for (const proxy of ['nginx', 'caddy']) {
      const port = () => proxies.find((p) => p.name === proxy)!.port

      test(`${proxy}: a valid token reaches the upstream with the claim headers; a client's own copy never does`, async () => {
        const response = await get(port(), `/orders/7?via=${proxy}`, {
          authorization: `Bearer ${reader}`,
          'x-user-id': 'root',
        })
        expect(response.status).toBe(200)
        const seen = seenWith(`via=${proxy}`)
        expect(seen).toHaveLength(1)
        expect(seen[0]!.headers.all('x-user-id')).toEqual(['alice'])
        expect(seen[0]!.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/)
        // Anonymous on a public route: no claim header, and the client's is dropped.
        const open = await get(port(), `/public/x?via=${proxy}-open`, { 'x-user-id': 'root' })
        expect(open.status).toBe(200)
        // nginx leaves an empty header out; Caddy sends it empty (the check answered it empty,
        // so that copy_headers replaces a client's copy on every Caddy version).
        expect(seenWith(`via=${proxy}-open`)[0]!.headers.all('x-user-id')).toEqual(
          proxy === 'nginx' ? [] : [''],
        )
      })

      test(`${proxy}: no token is 401 with WWW-Authenticate at the client; a scope rule is 403; never upstream`, async () => {
        const before = upstream.seen.length
        const missing = await get(port(), '/orders/7')
        expect(missing.status).toBe(401)
        expect(missing.headers.get('www-authenticate')).toBe('Bearer realm="jwtgate"')
        const forbidden = await get(port(), '/orders/7', { authorization: `Bearer ${plain}` })
        expect(forbidden.status).toBe(403)
        const admin = await get(port(), '/admin/x', { authorization: `Bearer ${reader}` })
        expect(admin.status).toBe(403)
        expect(upstream.seen.length).toBe(before)
      })

      test(`${proxy}: a request carrying a method or path override header never reaches the upstream`, async () => {
        for (
          const [name, value] of [
            ['X-HTTP-Method-Override', 'DELETE'],
            ['X-Original-URL', '/admin/x'],
          ] as const
        ) {
          const response = await get(port(), `/orders/7?override=${proxy}-${name}`, {
            authorization: `Bearer ${reader}`,
            [name]: value,
          })
          // The check is 400; nginx turns it into 500, Caddy passes it on.
          expect([name, response.status]).toEqual([name, proxy === 'nginx' ? 500 : 400])
          expect(seenWith(`override=${proxy}-${name}`)).toHaveLength(0)
        }
      })

      test(`${proxy}: path tricks never reach a path the rules refuse`, async () => {
        const tricks = [
          '/public/../admin/x',
          '/public/%2e%2e/admin/x',
          '/public/%2E%2E/admin/x',
          '/public/..%2fadmin/x',
          '/public/%2e%2e%2fadmin/x',
          '//admin/x',
          '/public//../admin/x',
          '/public/..;/admin/x',
          '/public;/../admin/x',
          '/admin;x=1/x',
          '/public/%252e%252e/admin/x',
          '/public/.%2e/admin/x',
          '/admin/../public/x',
          '/admin/%2e%2e/public/x',
          '/admin/./x',
        ]
        for (const trick of tricks) {
          const marker = `trick=${proxy}-${tricks.indexOf(trick)}`
          const response = await get(port(), `${trick}?${marker}`, {
            authorization: `Bearer ${plain}`,
          })
          const seen = seenWith(marker)
          // Either refused, or the upstream got a request the rules allow for this token: one
          // whose raw path an upstream cannot read as below /admin, resolved or not.
          if (response.status < 400) {
            expect(seen).toHaveLength(1)
            const raw = seen[0]!.target.split('?')[0]!
            expect([trick, /admin|\.\.|%2e|;|\/\//i.test(raw)]).toEqual([trick, false])
          } else {
            expect([trick, seen.length]).toEqual([trick, 0])
          }
        }
      })
    }

    test('Traefik: X-Forwarded-Method and X-Forwarded-Uri against the endpoint', async () => {
      const g = extraGateways[0]!
      const ok = await fetch(`${g.url}/`, {
        headers: {
          'x-forwarded-method': 'GET',
          'x-forwarded-uri': '/orders/1',
          'x-forwarded-host': 'api.example.com',
          'x-forwarded-proto': 'https',
          authorization: `Bearer ${reader}`,
        },
      })
      expect(ok.status).toBe(200)
      expect(ok.headers.get('x-user-id')).toBe('alice')
      const pinned = await fetch(`${g.url}/`, {
        headers: { 'x-original-method': 'GET', 'x-original-uri': '/public/x' },
      })
      expect(pinned.status).toBe(400)
      expect((await pinned.json()).code).toBe('auth_headers_missing')
    })

    test("Envoy: the check's own method and path below path_prefix, against the endpoint", async () => {
      const g = extraGateways[1]!
      const ok = await fetch(`${g.url}/ext_authz/orders/1`, {
        headers: { authorization: `Bearer ${reader}` },
      })
      expect(ok.status).toBe(200)
      expect(ok.headers.get('x-user-id')).toBe('alice')
      expect((await fetch(`${g.url}/ext_authz/orders/1`)).status).toBe(401)
      const admin = await fetch(`${g.url}/ext_authz/admin/x`, {
        headers: { authorization: `Bearer ${reader}` },
      })
      expect(admin.status).toBe(403)
    })
  })
}
