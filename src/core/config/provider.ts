/**
 * @module Provider compilation: a provider as either source describes it (a ProviderSpec, its key
 * material still raw) → a ProviderConfig with every local key imported, once, at load time.
 */
import { insecureUrlProblem } from '../auth/fetch-json.ts'
import {
  importPublicKeyText,
  importSecret,
  KeyImportError,
  SUPPORTED_ALGS,
  type VerifyKey,
} from '../auth/keys.ts'
import type { TokenSource } from '../auth/token.ts'
import type { ConfigIssue } from '../errors.ts'
import type { LocalKeys, ProviderConfig, RouteConfig } from './types.ts'

const ASYMMETRIC_ALGS = SUPPORTED_ALGS.filter((a) => !a.startsWith('HS'))

/**
 * A provider as read from either source, before keys are imported: the key and verification
 * settings of ProviderConfig, with the key material still raw and the algorithms maybe unset.
 * `place(field)` names a field for messages.
 */
export interface ProviderSpec
  extends Omit<ProviderConfig['keys'], 'local'>, Omit<ProviderConfig['verify'], 'algorithms'> {
  readonly name: string
  readonly place: (field: string) => string
  readonly secret: Uint8Array | undefined
  readonly publicKey: string | undefined
  readonly algorithms: readonly string[] | undefined
  readonly tokenSources: readonly TokenSource[]
}

/**
 * Imports the provider's local keys and checks its key settings together: a key source at all,
 * not both a JWKS URL and an OIDC issuer, safe URLs, algorithms the keys can verify, the OIDC
 * issuer among the issuers. The algorithms, when not configured, are derived from the keys.
 */
export async function compileProvider(
  spec: ProviderSpec,
  issues: ConfigIssue[],
): Promise<ProviderConfig> {
  const local: LocalKeys[] = []
  const configured = spec.algorithms
  async function importInto(
    field: string,
    label: LocalKeys['label'],
    load: () => Promise<VerifyKey[]>,
  ) {
    try {
      const keys = await load()
      if (keys.length === 0) {
        issues.push({
          path: spec.place(field),
          message: `no key fits the allowed algorithms (${configured?.join(', ')})`,
        })
      } else local.push({ label, keys })
    } catch (e) {
      issues.push({
        path: spec.place(field),
        message: e instanceof KeyImportError ? e.message : 'the key could not be imported',
      })
    }
  }
  if (spec.secret !== undefined) {
    const bytes = spec.secret
    await importInto('secret', 'secret', () => importSecret(bytes, configured))
  }
  if (spec.publicKey !== undefined) {
    const text = spec.publicKey
    await importInto('publicKey', 'public key', () => importPublicKeyText(text, configured))
  }
  const { jwksUrl, oidcIssuer, allowInsecure } = spec
  if (jwksUrl !== undefined && oidcIssuer !== undefined) {
    issues.push({
      path: spec.place('oidcIssuer'),
      message: 'set either a JWKS URL or an OIDC issuer, not both (discovery finds the JWKS URL)',
    })
  }
  for (const [field, url] of [['jwksUrl', jwksUrl], ['oidcIssuer', oidcIssuer]] as const) {
    const problem = url === undefined ? undefined : insecureUrlProblem(url, allowInsecure)
    if (problem !== undefined) issues.push({ path: spec.place(field), message: problem })
  }
  const issuerProblem = oidcIssuer === undefined ? undefined : oidcIssuerProblem(oidcIssuer)
  if (issuerProblem !== undefined) {
    issues.push({ path: spec.place('oidcIssuer'), message: issuerProblem })
  }
  const remote = jwksUrl !== undefined || oidcIssuer !== undefined
  const unresolved = issues.some((i) =>
    i.path === spec.place('secret') || i.path === spec.place('publicKey')
  )
  if (spec.secret === undefined && spec.publicKey === undefined && !remote && !unresolved) {
    issues.push({
      path: spec.place('provider'),
      message: spec.place('provider') === 'key source'
        ? 'none configured: set JWTGATE_SECRET, JWTGATE_PUBLIC_KEY, JWTGATE_JWKS_URL or JWTGATE_OIDC_ISSUER (jwtgate never runs as an open proxy)'
        : 'has no key source: set secret, publicKey, jwksUrl or oidcIssuer',
    })
  }
  const keyAlgs = new Set(local.flatMap((l) => l.keys.map((k) => k.alg)))
  if (remote) { for (const alg of ASYMMETRIC_ALGS) keyAlgs.add(alg) }
  if (configured !== undefined && local.length > 0 && !remote) {
    const unusable = configured.filter((alg) => !keyAlgs.has(alg))
    if (unusable.length > 0) {
      issues.push({
        path: spec.place('algorithms'),
        message: `no configured key can verify ${unusable.join(', ')}`,
      })
    }
  }
  let issuers = spec.issuers
  if (oidcIssuer !== undefined) {
    if (issuers.length === 0) issuers = [oidcIssuer]
    else if (!issuers.includes(oidcIssuer)) {
      issues.push({
        path: spec.place('issuer'),
        // As written (a trailing slash counts), but never with credentials (refused above).
        message: `must include the OIDC issuer ${
          /^[a-z][a-z0-9+.-]*:\/\/[^/]*@/i.test(oidcIssuer)
            ? '(its URL holds credentials)'
            : oidcIssuer
        }`,
      })
    }
  }
  return {
    name: spec.name,
    keys: {
      local,
      jwksUrl,
      oidcIssuer,
      cooldownMs: spec.cooldownMs,
      timeoutMs: spec.timeoutMs,
      maxAgeMs: spec.maxAgeMs,
      allowInsecure,
    },
    verify: {
      algorithms: configured ??
        [...keyAlgs].sort((a, b) => SUPPORTED_ALGS.indexOf(a) - SUPPORTED_ALGS.indexOf(b)),
      issuers,
      audiences: spec.audiences,
      clockSkewSec: spec.clockSkewSec,
      requiredClaims: spec.requiredClaims,
      requiredTyp: spec.requiredTyp,
    },
    tokenSources: spec.tokenSources,
  }
}

/**
 * Why an OIDC issuer is not one, or undefined: it is also the tokens' `iss` and is shown in the
 * start line and every key-set log line, so it carries no credentials, and OpenID Connect
 * Discovery §3 gives it no query or fragment.
 */
function oidcIssuerProblem(issuer: string): string | undefined {
  let url: URL
  try {
    url = new URL(issuer)
  } catch {
    return undefined // the schema says so
  }
  if (url.username !== '' || url.password !== '') return 'must not contain credentials'
  if (url.search !== '' || url.hash !== '' || /[?#]/.test(issuer)) {
    return 'must have no query or fragment (OpenID Connect Discovery §3)'
  }
  return undefined
}

/**
 * A warning for each route that accepts tokens of several issuers — several providers, or one that
 * accepts several `issuer`s — and sends claims upstream without the issuer: the upstream cannot
 * tell whose subject `X-User-Id: 42` is, and a token of one issuer can name a subject of another
 * (a partner holding a shared secret signs any `sub`).
 */
export function mixedIssuerWarnings(
  routes: readonly RouteConfig[],
  providers: readonly ProviderConfig[],
): string[] {
  const issuers = new Map(providers.map((p) => [p.name, p.verify.issuers.length]))
  return routes.flatMap((r) => {
    const one = r.providers.length === 1 ? r.providers[0]! : undefined
    if (one === undefined ? r.providers.length < 2 : (issuers.get(one) ?? 0) < 2) return []
    if (r.claimHeaders.length === 0 || r.claimHeaders.some((h) => h.claim.raw === 'iss')) return []
    const headers = r.claimHeaders.map((h) => `${h.claim.raw} as ${h.header}`).join(', ')
    const whose = one === undefined
      ? r.providers.join(', ')
      : `the ${issuers.get(one)} issuers of provider ${one}`
    return [
      `${r.place}: accepts tokens of ${whose} and sends ${headers} upstream without the issuer, so a token of one issuer can name a subject of another; send iss too (claimHeaders: { iss: X-Issuer }) or give each issuer its own route`,
    ]
  })
}

/** Below this, a JWK Set's cooldown is warned about (cooldownWarnings). */
const SHORT_COOLDOWN_MS = 1000

/**
 * A warning for each provider with a remote JWK Set refetched sooner than SHORT_COOLDOWN_MS after
 * the last fetch: any client can ask for a refetch (a token with an unknown `kid`), so with no
 * real cooldown one client keeps the gateway fetching from the identity provider back to back.
 * Not an error: a test set-up wants a rotation seen at once.
 */
export function cooldownWarnings(
  providers: readonly ProviderConfig[],
  fromFile: boolean,
): string[] {
  return providers.flatMap((p) => {
    const remote = p.keys.jwksUrl !== undefined || p.keys.oidcIssuer !== undefined
    if (!remote || p.keys.cooldownMs >= SHORT_COOLDOWN_MS) return []
    const where = fromFile ? `providers.${p.name}.jwksCooldown` : 'JWTGATE_JWKS_COOLDOWN'
    return [
      `${where}: ${p.keys.cooldownMs} ms between JWK Set fetches, so any token with an unknown kid fetches the set again and one client can keep the gateway fetching it back to back; keep it at 1s or more (default 30s)`,
    ]
  })
}

/** True when `p`'s keys are the issuer's published ones: a JWK Set's URL, or a public key. */
function hasPublishedKeys(p: ProviderConfig): boolean {
  return p.keys.jwksUrl !== undefined || p.keys.local.some((l) => l.label === 'public key')
}

/**
 * A warning for each provider whose keys are published (a JWK Set, a public key) and that checks
 * no issuer: a key set several issuers sign with (one per tenant of a multi-tenant identity
 * provider, whose common keys all tenants share) lets one tenant's tokens pass as another's. OIDC
 * discovery checks its issuer by itself.
 */
export function issuerWarnings(providers: readonly ProviderConfig[], fromFile: boolean): string[] {
  return providers.flatMap((p) => {
    if (!hasPublishedKeys(p) || p.verify.issuers.length > 0) return []
    const where = fromFile ? `providers.${p.name}` : 'JWTGATE_ISSUER'
    return [
      `${where}: no issuer is checked, so a token any issuer signed with these keys passes (the tenants of a multi-tenant identity provider share its keys); set ${
        fromFile ? 'issuer' : 'it'
      } to the issuer's`,
    ]
  })
}

/**
 * A warning for each provider whose keys are the issuer's public ones (a JWK Set, OIDC discovery,
 * a public key) and that checks no audience: a token its issuer signed for any other API passes
 * too (RFC 8725 §3.9). Not an error: an issuer that states no `aud` exists.
 */
export function audienceWarnings(
  providers: readonly ProviderConfig[],
  fromFile: boolean,
): string[] {
  return providers.flatMap((p) => {
    const shared = hasPublishedKeys(p) || p.keys.oidcIssuer !== undefined
    if (!shared || p.verify.audiences.length > 0) return []
    const where = fromFile ? `providers.${p.name}` : 'JWTGATE_AUDIENCE'
    return [
      `${where}: no audience is checked, so a token the issuer signed for another API passes too; set ${
        fromFile ? 'audience' : 'it'
      } to this API's`,
    ]
  })
}
