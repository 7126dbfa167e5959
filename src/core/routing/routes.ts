/**
 * @module Route matching: itty-router's path syntax (`/orders/:id`, `/files/*`, `/docs/:rest+`),
 * compiled once at start by itty-router into regular expressions, then anchored strictly: a
 * pattern matches its path exactly (no tolerated trailing slashes), and `/files/*` covers
 * everything below `/files/` but not `/files` itself. First match wins; a route that allows GET
 * also governs HEAD.
 */
import { IttyRouter } from 'itty-router'
import { BadRequestError } from '../errors.ts'
import { configuredPath } from './path.ts'

/** One compiled route: its index in the configuration, pattern, methods and regex. */
export interface CompiledRoute<T> {
  readonly index: number
  readonly pattern: string
  readonly methods: ReadonlySet<string> | undefined
  readonly regex: RegExp
  /** The pattern has `:params`: matching must read them. */
  readonly hasParams: boolean
  readonly route: T
}

export interface RouteMatch<T> {
  readonly route: CompiledRoute<T>
  /** Path parameters, percent-decoded. */
  readonly params: Readonly<Record<string, string>>
}

/** A segment: literal characters (unreserved, some sub-delims, `@`, escapes), `:name`, `:name+`, or `*`. */
const SEGMENT = /^(?:[A-Za-z0-9._~!&',=@-]|%[0-9A-Fa-f]{2})+$|^:[A-Za-z_]\w*\+?$|^\*$/

/**
 * Why `pattern` is not a route pattern we accept, or undefined. Requests are matched in their
 * normalised form (path.ts): a literal written otherwise (`/%61pi`, `/caf%c3%a9`, `/%7Eadmin`)
 * would never match, and requests meant for it would fall through to a later route unnoticed.
 */
export function patternProblem(pattern: string): string | undefined {
  if (!pattern.startsWith('/')) return 'must start with /'
  const segments = pattern.split('/').slice(1)
  for (const [i, segment] of segments.entries()) {
    if (segment === '' && i === segments.length - 1 && segments.length === 1) continue // "/"
    if (!SEGMENT.test(segment)) {
      return `segment ${JSON.stringify(segment)} is not a literal, :param, :param+ or *`
    }
    if ((segment === '*' || segment.endsWith('+')) && i !== segments.length - 1) {
      return `${segment} is only allowed as the last segment`
    }
    if (segment === '.' || segment === '..') return 'dot segments are not allowed'
  }
  return normalFormProblem(pattern)
}

/**
 * Why no request's path can ever equal `path` as written (a pattern's literal text, a
 * stripPrefix), or undefined: the message names the spelling to use, when there is one.
 */
export function normalFormProblem(path: string): string | undefined {
  const normal = configuredPath(path)
  if ('problem' in normal) return `never matches a request: ${normal.problem}`
  if (normal.path === path) return undefined
  return `never matches a request: requests are compared in normalised form, write ${
    JSON.stringify(normal.path)
  }`
}

/**
 * itty-router ends every pattern with `\/*$` (any number of trailing slashes) and makes a final
 * `/*` optional (`(\/.*)?`); both widen a rule beyond what it says, so both are tightened.
 */
function strict(pattern: string, regex: RegExp): RegExp {
  if (pattern === '/') return /^\/$/
  let source = regex.source
  if (source.endsWith('\\/*$')) source = `${source.slice(0, -4)}$`
  if (source.endsWith('(\\/.*)?$')) source = `${source.slice(0, -8)}\\/.*$`
  return new RegExp(source)
}

/** Compiles routes once; `pattern` and `methods` are read from each route. */
export function compileRoutes<
  T extends { readonly pattern: string; readonly methods: readonly string[] | undefined },
>(routes: readonly T[]): CompiledRoute<T>[] {
  const router = IttyRouter()
  for (const route of routes) router.all(route.pattern, () => undefined)
  return routes.map((route, index) => {
    const methods = route.methods === undefined
      ? undefined
      : new Set(route.methods.includes('GET') ? [...route.methods, 'HEAD'] : route.methods)
    return Object.freeze({
      index,
      pattern: route.pattern,
      methods,
      regex: strict(route.pattern, router.routes[index]![1]),
      hasParams: route.pattern.includes(':'),
      route,
    })
  })
}

const NO_PARAMS: Readonly<Record<string, string>> = Object.freeze({})

/**
 * A path parameter, percent-decoded. One whose escapes are not UTF-8 (`%C0`) is refused (400
 * bad_path): kept encoded, it would be compared half-decoded in claim conditions and encoded a
 * second time by a rewrite (`%25C0`).
 */
function decodeParam(value: string): string {
  try {
    return decodeURIComponent(value)
  } catch {
    throw new BadRequestError('bad_path', 'A path parameter is not valid UTF-8.')
  }
}

/**
 * Whether the route's path pattern matches, ignoring methods; params when it does. Throws
 * BadRequestError (400 bad_path) when it matches with a parameter that is not valid UTF-8.
 */
export function matchPath<T>(
  route: CompiledRoute<T>,
  path: string,
): Readonly<Record<string, string>> | undefined {
  if (!route.hasParams) return route.regex.test(path) ? NO_PARAMS : undefined
  const match = route.regex.exec(path)
  if (match === null) return undefined
  const params: Record<string, string> = {}
  if (match.groups !== undefined) {
    for (const [k, v] of Object.entries(match.groups)) {
      if (v !== undefined) params[k] = decodeParam(v)
    }
  }
  return params
}

/** The first route whose methods and pattern match (throws as matchPath does). */
export function matchRoute<T>(
  routes: readonly CompiledRoute<T>[],
  method: string,
  path: string,
): RouteMatch<T> | undefined {
  for (const route of routes) {
    if (route.methods !== undefined && !route.methods.has(method)) continue
    const params = matchPath(route, path)
    if (params !== undefined) return { route, params }
  }
  return undefined
}

/** A concrete path the pattern matches, to test whether an earlier route covers it. */
function samplePath(pattern: string): string {
  return pattern
    .split('/')
    .map((s) => (s === '*' ? 'x' : s.startsWith(':') ? (s.endsWith('+') ? 'x/y' : 'x') : s))
    .join('/')
}

/** Whether `route` takes `path`: it matches, or refuses it for a parameter that is not UTF-8. */
function covers<T>(route: CompiledRoute<T>, path: string): boolean {
  try {
    return matchPath(route, path) !== undefined
  } catch (e) {
    if (e instanceof BadRequestError) return true
    throw e
  }
}

/** Indexes pairs [shadowed, by]: a later route whose sample path and methods an earlier one covers. */
export function shadowedRoutes<T>(routes: readonly CompiledRoute<T>[]): [number, number][] {
  const out: [number, number][] = []
  for (const later of routes) {
    const sample = samplePath(later.pattern)
    const earlier = routes.find(
      (r) =>
        r.index < later.index &&
        covers(r, sample) &&
        (r.methods === undefined ||
          (later.methods !== undefined && [...later.methods].every((m) => r.methods!.has(m)))),
    )
    if (earlier !== undefined) out.push([later.index, earlier.index])
  }
  return out
}
