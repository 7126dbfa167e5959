/**
 * @module The defaults, in one table shaped like the configuration file. Both schemas read it: the
 * file's schema fills them in (and `jwtgate schema` shows them to editors), and the variables'
 * schema takes each default's text. The compilers get values with the defaults already in place.
 */
import { ROLES_CLAIM } from '../auth/requirements.ts'

/** Every default, where the configuration file would set it (durations as written: `30s`). */
export const DEFAULTS = {
  listen: { host: '0.0.0.0', port: 8080 },
  log: { level: 'info', format: 'json' },
  trustedProxies: 0,
  maxTokenBytes: 8192,
  forwardToken: false,
  debugHeaders: false,
  watch: false,
  admin: { host: '127.0.0.1' },
  shutdownTimeout: '30s',
  /** Proxy to upstreams; `auth` answers other proxies' checks instead. */
  mode: 'proxy',
  /** `auto`: as many as the cores the process may use keep busy (cli/workers/count.ts). */
  workers: 'auto',
  cors: {
    methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
    headers: ['authorization', 'content-type'],
    exposeHeaders: [],
    credentials: false,
    maxAge: '10m',
  },
  limits: { maxHeaderBytes: 16384, streamIdleTimeout: '2m' },
  /**
   * WebSocket upgrades: on every route that authenticates unless a route says otherwise; a
   * message well below the runtimes' own 16 MB; no grace after `exp` but the clock skew.
   */
  websockets: {
    enabled: true,
    maxMessage: '1mb',
    maxBuffered: '4mb',
    idleTimeout: '2m',
    maxConnections: 10000,
    expiryGrace: '0s',
  },
  tokenCache: { size: 10000, maxAge: '5m' },
  /** Each named rate limit's (`rateLimits:`). */
  rateLimit: { key: 'sub' },
  /** The shared store: a deadline of tens of ms, this process's own buckets while it is down. */
  redis: { timeout: '50ms', onFailure: 'local', prefix: 'jwtgate:' },
  /** Revocations: served from the mirror while the store is away; a day's tokens covered. */
  revocations: { strict: false, maxTokenLifetime: '24h', maxEntries: 1_000_000 },
  /** Each provider's. */
  provider: {
    jwksCooldown: '30s',
    jwksTimeout: '5s',
    jwksMaxAge: '10m',
    allowInsecureJwks: false,
    clockSkew: 30,
    requiredClaims: ['exp'],
    tokenSources: ['header:Authorization', 'protocol:bearer'],
  },
  /** Each upstream's. */
  upstream: { timeout: '30s' },
  /** Each route's. */
  route: { auth: 'required', rolesClaim: ROLES_CLAIM },
} as const

/** A default as an environment variable writes it: lists comma-separated. */
export function defaultText(value: string | number | boolean | readonly string[]): string {
  return typeof value === 'object' ? value.join(',') : String(value)
}
