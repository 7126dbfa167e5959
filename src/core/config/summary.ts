/**
 * @module Secret-free descriptions of a Config, for the start-up line and `jwtgate check`.
 */
import { describeLimitKey } from '../limits/policy.ts'
import { describeRedis } from './redis.ts'
import { describeUrl } from '../auth/fetch-json.ts'
import { describeKeys } from '../auth/keys.ts'
import { describeRequirements } from '../auth/requirements.ts'
import { describeTokenSource } from '../auth/token.ts'
import type { Config, ProviderConfig, RouteConfig } from './types.ts'

/** A provider's key sources, e.g. `secret (HS256), jwks https://idp/jwks.json`. */
function describeKeySources(provider: ProviderConfig): string {
  const parts = provider.keys.local.map((l) => `${l.label} (${describeKeys(l.keys)})`)
  if (provider.keys.jwksUrl !== undefined) parts.push(`jwks ${describeUrl(provider.keys.jwksUrl)}`)
  if (provider.keys.oidcIssuer !== undefined) {
    parts.push(`oidc ${describeUrl(provider.keys.oidcIssuer)}`)
  }
  return parts.join(', ')
}

/** What a provider checks beyond the signature. */
function describeProvider(p: ProviderConfig): string {
  const parts: string[] = [`algorithms ${p.verify.algorithms.join(',')}`]
  if (p.verify.issuers.length > 0) parts.push(`issuer ${p.verify.issuers.join(',')}`)
  if (p.verify.audiences.length > 0) parts.push(`audience ${p.verify.audiences.join(',')}`)
  if (p.verify.requiredClaims.length > 0) {
    parts.push(`required claims ${p.verify.requiredClaims.join(',')}`)
  }
  if (p.verify.requiredTyp !== undefined) parts.push(`typ ${p.verify.requiredTyp}`)
  parts.push(`tokens from ${p.tokenSources.map(describeTokenSource).join(',')}`)
  return parts.join('; ')
}

/** One route: methods, pattern, upstream, auth and what it requires. */
function describeRoute(r: RouteConfig): string {
  const parts = [
    `${(r.methods ?? ['*']).join(',')} ${r.pattern} → ${r.upstream}`,
    r.auth === 'public' ? 'public' : `${r.auth} (${r.providers.join(',')})`,
  ]
  parts.push(...describeRequirements(r.require))
  if (r.stripPrefix !== undefined) parts.push(`strip ${r.stripPrefix}`)
  if (r.rewrite !== undefined) parts.push(`rewrite ${r.rewrite.text}`)
  if (r.claimHeaders.length > 0) {
    parts.push(
      `claims ${
        r.claimHeaders.map((c) => `${c.claim.raw}→${c.header}${c.as === 'json' ? ' (json)' : ''}`)
          .join(',')
      }`,
    )
  }
  if (r.websockets) parts.push('websockets')
  return parts.join('; ')
}

/** The lines `jwtgate check` prints for a valid configuration. */
export function describeConfig(config: Config): string[] {
  const lines = [`listen:   ${config.host}:${config.port}`]
  if (config.file !== undefined) {
    lines.push(`file:     ${config.file.path}${config.file.watch ? ' (watched)' : ''}`)
  }
  for (const u of config.upstreams) {
    lines.push(
      `upstream: ${u.name === 'default' ? '' : `${u.name} `}${u.url} (timeout ${u.timeoutMs} ms)`,
    )
  }
  for (const p of config.providers) {
    const name = p.name === 'default' && config.file === undefined ? '' : `${p.name}: `
    lines.push(`keys:     ${name}${describeKeySources(p)}`)
    lines.push(`policy:   ${name}${describeProvider(p)}`)
  }
  for (const r of config.routes) {
    lines.push(
      `route:    ${r.place} ${r.name === r.place ? '' : `"${r.name}" `}${describeRoute(r)}`,
    )
  }
  if (config.debugHeaders) {
    lines.push(
      'warning:  JWTGATE_DEBUG_HEADERS is on: rejection reasons are sent to clients in X-Jwtgate-Reason',
    )
  }
  const strip = [
    ...config.stripHeaders.names,
    ...config.stripHeaders.prefixes.map((prefix) => `${prefix}*`),
  ]
  lines.push(
    `headers:  X-Forwarded-* read from ${config.trustedProxies} trusted prox${
      config.trustedProxies === 1 ? 'y' : 'ies'
    }; token ${config.forwardToken ? 'forwarded (the verified copy only)' : 'removed'}${
      strip.length > 0 ? `; also removed: ${strip.join(', ')}` : ''
    }`,
  )
  for (const l of config.rateLimits) {
    lines.push(
      `limit:    "${l.name}" ${l.rate.limit} per ${l.rate.periodMs / 1000}s (burst ${l.burst}) by ${
        describeLimitKey(l.key)
      }${l.routes === undefined ? '' : ` on ${l.routes.join(', ')}`}${
        l.providers === undefined ? '' : ` for tokens of ${l.providers.join(', ')}`
      }`,
    )
  }
  if (config.redis !== undefined) {
    lines.push(
      `store:    ${
        describeRedis(config.redis.url)
      } (deadline ${config.redis.timeoutMs} ms; while down: ${
        config.redis.onFailure === 'local' ? "each instance's own buckets" : config.redis.onFailure
      })`,
    )
  }
  const fa = config.forwardAuth
  if (config.mode === 'auth' || fa.path !== undefined) {
    lines.push(
      `checks:   ${
        config.mode === 'auth'
          ? 'every request is a forward-authentication check (mode auth)'
          : `on ${fa.path}`
      }${
        config.mode === 'auth' && fa.path !== undefined ? `, its path below ${fa.path}` : ''
      }; from ${fa.callers?.join(', ') ?? "loopback and the listener's networks"}; headers: ${
        fa.headers === undefined
          ? 'X-Original-* or X-Forwarded-* (not both)'
          : fa.headers === 'original'
          ? 'X-Original-* only'
          : fa.headers === 'forwarded'
          ? 'X-Forwarded-* only'
          : "the check's own path only"
      }`,
    )
  }
  const r = config.revocations
  const where = config.redis !== undefined
    ? 'in Redis'
    : r.file !== undefined
    ? `in the file ${r.file}`
    : undefined
  if (where !== undefined) {
    lines.push(
      `revoke:   ${where}; ${
        r.strict
          ? 'tokens refused (503) while unconfirmed'
          : 'served from the last synced list while the store is away'
      }; POST /revocations ${
        config.admin?.token !== undefined ? 'with the admin token' : 'off (no JWTGATE_ADMIN_TOKEN)'
      }`,
    )
  }
  const ws = config.websockets
  lines.push(
    ws.enabled && config.routes.some((route) => route.websockets)
      ? `ws:       upgrades on the routes marked websockets; messages up to ${ws.maxMessageBytes} bytes, ${ws.maxBufferedBytes} buffered for a slow receiver; idle ${ws.idleTimeoutSec} s; at most ${ws.maxConnections} open; closed at the token's exp${
        ws.expiryGraceMs > 0 ? ` + ${ws.expiryGraceMs / 1000} s` : ''
      } (+ clock skew) or its revocation`
      : 'ws:       WebSocket upgrades off',
  )
  for (const w of config.warnings) lines.push(`warning:  ${w}`)
  return lines
}

/** Fields for the start-up log event. */
export function summaryFields(config: Config): Record<string, string> {
  const named = config.file !== undefined || config.providers.length > 1
  return {
    upstream: config.upstreams.map((u) => (named ? `${u.name}=${u.url}` : u.url)).join(', '),
    keys: config.providers.map((
      p,
    ) => (named ? `${p.name}: ${describeKeySources(p)}` : describeKeySources(p))).join('; '),
    policy: config.providers.map((
      p,
    ) => (named ? `${p.name}: ${describeProvider(p)}` : describeProvider(p))).join(' | '),
    routes: String(config.routes.length),
  }
}
