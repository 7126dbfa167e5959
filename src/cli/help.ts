/** @module The `--help` text. */
import { VERSION } from '../version.ts'

export const USAGE = `jwtgate ${VERSION}: a JWT-authenticating reverse proxy for APIs

Usage:
  jwtgate [serve] [--config FILE]   start the gateway (reloads FILE on SIGHUP)
  jwtgate check [--config FILE]     validate the configuration and print the merged result
  jwtgate explain METHOD URL-OR-PATH [--token T] [--header 'Name: value']... [--json] [--config FILE]
                                    show how a request would be decided, without contacting the upstream
  jwtgate revoke --jti ID | --token JWT|- | --sub SUB | --issuer ISS [--iss ISS] [--exp|--before|--until TIME] [--config FILE]
                                    revoke a token, a subject's or an issuer's tokens issued before TIME (now),
                                    in Redis (JWTGATE_REDIS_URL) or the revocations file (JWTGATE_REVOCATIONS_FILE)
  jwtgate schema                    print the configuration file's JSON Schema
  jwtgate demo                      zero-configuration demo: echo upstream, ES256 key, token, curl commands
  jwtgate --version | --help

Configuration: a JSON or YAML file (JWTGATE_CONFIG or --config) with providers, upstreams and
routes; or, for one upstream and one policy, environment variables alone:

Required:
  JWTGATE_UPSTREAM            base URL of the protected API (a path prefix is kept)
  and at least one key source:
  JWTGATE_SECRET[_FILE]       HMAC secret, >= 32 bytes ("base64:" prefix for raw bytes)
  JWTGATE_PUBLIC_KEY[_FILE]   PEM public key or certificate, JWK, or JWK Set
  JWTGATE_JWKS_URL            remote JWK Set (https; http only on loopback)
  JWTGATE_OIDC_ISSUER         OpenID Connect issuer (discovery finds its JWK Set)

Optional (defaults in brackets):
  JWTGATE_HOST / JWTGATE_PORT           listen address [0.0.0.0 / 8080]
  JWTGATE_ISSUER / JWTGATE_AUDIENCE     accepted iss / aud values, comma-separated
  JWTGATE_ALGORITHMS                    allowed algs [derived from the keys]
  JWTGATE_CLOCK_SKEW                    seconds of tolerance for exp/nbf/iat [30]
  JWTGATE_REQUIRED_CLAIMS               claims that must be present, or "none" [exp]
  JWTGATE_REQUIRED_TYP                  required typ header, e.g. at+jwt
  JWTGATE_TOKEN_SOURCES                 header:Authorization, header:X, cookie:x, query:x [header:Authorization]
  JWTGATE_PUBLIC_PATHS                  paths open without a token: /health, /docs/*
  JWTGATE_REQUIRED_SCOPES               scopes that must all be present
  JWTGATE_REQUIRED_ROLES / _ROLES_CLAIM any-of roles / the claim holding them [roles]
  JWTGATE_FORWARD_CLAIMS                claim=Header pairs sent upstream, e.g. sub=X-User-Id
  JWTGATE_FORWARD_TOKEN                 keep the token upstream [false]
  JWTGATE_UPSTREAM_TIMEOUT              time to upstream response headers [30s]
  JWTGATE_TRUSTED_PROXIES               proxies in front whose X-Forwarded-* are kept [0]
  JWTGATE_JWKS_COOLDOWN / _TIMEOUT / _MAX_AGE   [30s / 5s / 10m]
  JWTGATE_ALLOW_INSECURE_JWKS           allow http JWKS/OIDC URLs off loopback [false]
  JWTGATE_MAX_TOKEN_BYTES               longest token accepted [8192]
  JWTGATE_LOG_LEVEL / JWTGATE_LOG_FORMAT  debug|info|warn|error / json|pretty [info / json]
  JWTGATE_DEBUG_HEADERS                 send rejection reasons in X-Jwtgate-Reason [false]
  JWTGATE_CONFIG                        configuration file; next to it, the variables above that are
                                        not about keys, upstreams or routes override its top-level values

Docs: README.md`
