/**
 * @module The top-level settings — listener, log, limits, CORS, TLS, admin, cache, rate limit —
 * merged: a variable set in the environment wins over the file's value, which wins over the
 * default (defaults.ts, already in place in both sources).
 */
import type { CorsConfig } from '../cors.ts'
import type { ConfigIssue } from '../errors.ts'
import { parseStripHeaders } from '../proxy/headers.ts'
import { parseRateLimit } from '../rate-limit.ts'
import type { FileConfig } from './file-schema.ts'
import type { EnvValues } from './schema.ts'
import { unreadableValueFile } from './secrets.ts'
import type { Config, ReadFile } from './types.ts'
import { durationMs, parseSize } from './values.ts'

/** The part of Config the merge gives. */
type Settings = Omit<
  Config,
  | 'providers'
  | 'upstreams'
  | 'routes'
  | 'file'
  | 'warnings'
  | 'rateLimits'
  | 'redis'
  | 'revocations'
>

/** The certificate and key, read and roughly checked; places name the variable or `tls.*`. */
function readTls(
  paths: { cert: string | undefined; key: string | undefined },
  place: (part: 'cert' | 'key') => string,
  readFile: ReadFile | undefined,
  issues: ConfigIssue[],
): Config['tls'] {
  if ((paths.cert === undefined) !== (paths.key === undefined)) {
    issues.push({
      path: place(paths.cert === undefined ? 'cert' : 'key'),
      message: 'is required: TLS needs both a certificate and a key',
    })
    return undefined
  }
  if (paths.cert === undefined || paths.key === undefined) return undefined
  const read = (part: 'cert' | 'key', path: string, marker: RegExp, expected: string) => {
    try {
      const text = readFile!(path)
      if (!marker.test(text)) {
        issues.push({ path: place(part), message: `${JSON.stringify(path)} is not ${expected}` })
      }
      return text
    } catch {
      issues.push({ path: place(part), message: unreadableValueFile(undefined) })
      return ''
    }
  }
  return {
    cert: read('cert', paths.cert, /-----BEGIN CERTIFICATE-----/, 'a PEM certificate'),
    key: read('key', paths.key, /-----BEGIN (?:RSA |EC )?PRIVATE KEY-----/, 'a PEM private key'),
  }
}

/**
 * The settings from the variables' values (`env`, defaults included), the names of the variables
 * actually set (`input`), and the file, if any. TLS files are read here.
 */
export function mergeSettings(
  env: EnvValues,
  input: Readonly<Record<string, string>>,
  file: FileConfig | undefined,
  readFile: ReadFile | undefined,
  issues: ConfigIssue[],
): Settings {
  const set = (variable: string) => variable in input
  /** The variable when it was set, else the file's value (converted), else the variable's default. */
  function pick<K extends keyof EnvValues, F>(
    variable: K,
    fileValue: F | undefined,
    convert?: (value: F) => EnvValues[K],
  ): EnvValues[K] {
    if (set(variable) || fileValue === undefined) return env[variable]
    return convert === undefined ? (fileValue as unknown as EnvValues[K]) : convert(fileValue)
  }

  const tls = readTls(
    {
      cert: set('JWTGATE_TLS_CERT') ? env.JWTGATE_TLS_CERT : file?.tls?.cert,
      key: set('JWTGATE_TLS_KEY') ? env.JWTGATE_TLS_KEY : file?.tls?.key,
    },
    (part) =>
      set(`JWTGATE_TLS_${part.toUpperCase()}`) || file === undefined
        ? `JWTGATE_TLS_${part.toUpperCase()}`
        : `tls.${part}`,
    readFile,
    issues,
  )

  const corsOrigins = set('JWTGATE_CORS_ORIGINS') ? env.JWTGATE_CORS_ORIGINS : file?.cors?.origins
  let cors: CorsConfig | undefined
  if (corsOrigins !== undefined && corsOrigins.length > 0) {
    const credentials = pick('JWTGATE_CORS_CREDENTIALS', file?.cors?.credentials)
    if (credentials && corsOrigins.includes('*')) {
      issues.push({
        path: set('JWTGATE_CORS_ORIGINS') ? 'JWTGATE_CORS_ORIGINS' : 'cors.origins',
        message: '"*" cannot be combined with credentials; list the origins',
      })
    }
    cors = {
      origins: corsOrigins,
      methods: pick('JWTGATE_CORS_METHODS', file?.cors?.methods),
      headers: pick('JWTGATE_CORS_HEADERS', file?.cors?.headers),
      exposeHeaders: pick('JWTGATE_CORS_EXPOSE_HEADERS', file?.cors?.exposeHeaders).map((h) =>
        h.toLowerCase()
      ),
      credentials,
      maxAgeSec: Math.round(pick('JWTGATE_CORS_MAX_AGE', file?.cors?.maxAge, durationMs) / 1000),
    }
  }
  const adminPort = set('JWTGATE_ADMIN_PORT') ? env.JWTGATE_ADMIN_PORT : file?.admin?.port
  const size = (b: number | string) => (typeof b === 'number' ? b : parseSize(b))
  // A size with a default: never undefined (the schemas checked it).
  const sizeOf = (b: number | string) => size(b)!
  const websockets = {
    enabled: pick('JWTGATE_WEBSOCKETS', file?.websockets?.enabled),
    maxMessageBytes: pick('JWTGATE_WEBSOCKET_MAX_MESSAGE', file?.websockets?.maxMessage, sizeOf),
    maxBufferedBytes: pick(
      'JWTGATE_WEBSOCKET_MAX_BUFFERED',
      file?.websockets?.maxBuffered,
      sizeOf,
    ),
    idleTimeoutSec: Math.ceil(
      pick('JWTGATE_WEBSOCKET_IDLE_TIMEOUT', file?.websockets?.idleTimeout, durationMs) / 1000,
    ),
    maxConnections: pick('JWTGATE_WEBSOCKET_MAX_CONNECTIONS', file?.websockets?.maxConnections),
    expiryGraceMs: pick(
      'JWTGATE_WEBSOCKET_EXPIRY_GRACE',
      file?.websockets?.expiryGrace,
      durationMs,
    ),
  }
  // A sender is held back at half the bound: a whole message must fit in the other half, or
  // one message arriving after a hold would cut the connection.
  if (websockets.maxBufferedBytes < 2 * websockets.maxMessageBytes) {
    issues.push({
      path: set('JWTGATE_WEBSOCKET_MAX_BUFFERED')
        ? 'JWTGATE_WEBSOCKET_MAX_BUFFERED'
        : set('JWTGATE_WEBSOCKET_MAX_MESSAGE')
        ? 'JWTGATE_WEBSOCKET_MAX_MESSAGE'
        : 'websockets.maxBuffered',
      message:
        `must leave room for two messages: ${websockets.maxBufferedBytes} buffered bytes for messages of up to ${websockets.maxMessageBytes}`,
    })
  }

  return {
    mode: pick('JWTGATE_MODE', file?.mode),
    forwardAuth: {
      path: pick('JWTGATE_AUTH_PATH', file?.forwardAuth?.path),
      callers: pick('JWTGATE_AUTH_CALLERS', file?.forwardAuth?.callers),
      headers: pick('JWTGATE_AUTH_HEADERS', file?.forwardAuth?.headers),
    },
    host: pick('JWTGATE_HOST', file?.listen?.host),
    port: pick('JWTGATE_PORT', file?.listen?.port),
    trustedProxies: pick('JWTGATE_TRUSTED_PROXIES', file?.trustedProxies),
    stripHeaders: pick('JWTGATE_STRIP_HEADERS', file?.stripHeaders, parseStripHeaders),
    maxTokenBytes: pick('JWTGATE_MAX_TOKEN_BYTES', file?.maxTokenBytes),
    forwardToken: pick('JWTGATE_FORWARD_TOKEN', file?.forwardToken),
    debugHeaders: pick('JWTGATE_DEBUG_HEADERS', file?.debugHeaders),
    log: {
      level: pick('JWTGATE_LOG_LEVEL', file?.log?.level),
      format: pick('JWTGATE_LOG_FORMAT', file?.log?.format),
    },
    admin: adminPort === undefined
      ? undefined
      : { host: pick('JWTGATE_ADMIN_HOST', file?.admin?.host), port: adminPort, token: undefined },
    shutdownTimeoutMs: pick('JWTGATE_SHUTDOWN_TIMEOUT', file?.shutdownTimeout, durationMs),
    workers: pick('JWTGATE_WORKERS', file?.workers),
    tls,
    cors,
    limits: {
      maxHeaderBytes: pick('JWTGATE_MAX_HEADER_BYTES', file?.limits?.maxHeaderBytes),
      maxBodyBytes: pick('JWTGATE_MAX_BODY', file?.limits?.maxBody, size),
      streamIdleMs: pick(
        'JWTGATE_STREAM_IDLE_TIMEOUT',
        file?.limits?.streamIdleTimeout,
        durationMs,
      ),
    },
    websockets,
    rateLimit: pick('JWTGATE_RATE_LIMIT', file?.rateLimit, parseRateLimit),
    tokenCache: {
      size: pick('JWTGATE_TOKEN_CACHE_SIZE', file?.tokenCache?.size),
      maxAgeMs: pick('JWTGATE_TOKEN_CACHE_TTL', file?.tokenCache?.maxAge, durationMs),
    },
  }
}
