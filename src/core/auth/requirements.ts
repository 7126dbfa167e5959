/**
 * @module Per-route requirements on verified claims: scopes (all-of / any-of), roles (any-of, from
 * a claim path), and claim conditions (equals / oneOf / contains / matches, combined with
 * all / any / not) whose expected values may be templates of the request. Compiled once at start;
 * exact matches only, and an unexpected claim type never satisfies a condition.
 *
 * Each kind of requirement is one entry of KINDS: how its fields are compiled from a route's
 * `require:` input (the environment builds the same shape), how they are checked, and how they
 * are described. A new kind is an entry (listed in KINDS and compileRequirements), its fields in
 * Requirements, and its input in RequirementsInput and in the configuration file's schema.
 */
import { ForbiddenError } from '../errors.ts'
import {
  parseTemplate,
  renderTemplate,
  type Template,
  type TemplateContext,
  templateParams,
} from '../routing/template.ts'
import { type ClaimPath, claimPath, type Claims, readClaim } from './claims.ts'

/** One line of an explanation: what was checked, what was seen, whether it passed. */
export interface TraceStep {
  readonly step: string
  readonly ok: boolean
  readonly detail?: string
}

export type Trace = TraceStep[]

/** A claim condition's expected value as written. */
type Scalar = string | number | boolean
export type { Scalar }

/** A claim condition as the configuration file writes it (validated by the file's schema). */
export type ConditionInput =
  | { claim: string; equals: Scalar }
  | { claim: string; oneOf: Scalar[] }
  | { claim: string; contains: Scalar }
  | { claim: string; matches: string }
  | { all: ConditionInput[] }
  | { any: ConditionInput[] }
  | { not: ConditionInput }

/** A route's `require:` block; the environment's JWTGATE_REQUIRED_* variables give the same shape. */
export interface RequirementsInput {
  readonly scopes?: { readonly all?: readonly string[]; readonly any?: readonly string[] }
  readonly roles?: { readonly any: readonly string[]; readonly claim?: string }
  readonly claims?: readonly ConditionInput[]
}

/** The claim that holds the roles when the input names none. */
export const ROLES_CLAIM = 'roles'

/** A compiled claim condition. */
export type Condition =
  | {
    readonly op: 'equals'
    readonly claim: ClaimPath
    readonly expected: Scalar | Template
    readonly place: string
  }
  | {
    readonly op: 'oneOf'
    readonly claim: ClaimPath
    readonly expected: readonly (Scalar | Template)[]
    readonly place: string
  }
  | {
    readonly op: 'contains'
    readonly claim: ClaimPath
    readonly expected: Scalar | Template
    readonly place: string
  }
  | {
    readonly op: 'matches'
    readonly claim: ClaimPath
    readonly regex: RegExp
    readonly place: string
  }
  | {
    readonly op: 'all' | 'any'
    readonly conditions: readonly Condition[]
    readonly place: string
  }
  | { readonly op: 'not'; readonly condition: Condition; readonly place: string }

/** A route's compiled requirements: the fields of each kind (see KINDS), and their place. */
export interface Requirements {
  /** Scopes the token must all have. */
  readonly scopesAll: readonly string[]
  /** Scopes of which the token must have at least one (empty: no check). */
  readonly scopesAny: readonly string[]
  /** Roles of which the token must have at least one (empty: no check). */
  readonly rolesAny: readonly string[]
  /** The claim that holds the roles (default `roles`). */
  readonly rolesClaim: ClaimPath
  /** Claim conditions that must all hold. */
  readonly claims: readonly Condition[]
  /** Where in the configuration these requirements are, for messages (`routes[2].require`). */
  readonly place: string
}

function expectedValue(value: Scalar): Scalar | Template {
  return typeof value === 'string' && value.includes('{') ? parseTemplate(value) : value
}

/** Compiles a condition from the file (already validated by the schema). */
export function compileCondition(input: ConditionInput, place: string): Condition {
  if ('all' in input) {
    return {
      op: 'all',
      conditions: input.all.map((c, i) => compileCondition(c, `${place}.all[${i}]`)),
      place,
    }
  }
  if ('any' in input) {
    return {
      op: 'any',
      conditions: input.any.map((c, i) => compileCondition(c, `${place}.any[${i}]`)),
      place,
    }
  }
  if ('not' in input) {
    return { op: 'not', condition: compileCondition(input.not, `${place}.not`), place }
  }
  const claim = claimPath(input.claim)
  if ('equals' in input) {
    return { op: 'equals', claim, expected: expectedValue(input.equals), place }
  }
  if ('oneOf' in input) {
    return { op: 'oneOf', claim, expected: input.oneOf.map(expectedValue), place }
  }
  if ('contains' in input) {
    return { op: 'contains', claim, expected: expectedValue(input.contains), place }
  }
  return { op: 'matches', claim, regex: new RegExp(`^(?:${input.matches})$`), place }
}

/**
 * The route parameters the conditions' expected values name (`{params.tenant}`), each with the
 * place of the condition that names it: a name the route's pattern lacks would render as '' and
 * compare with an empty claim (from-file.ts refuses it at load).
 */
export function conditionParams(
  conditions: readonly Condition[],
): { readonly name: string; readonly place: string }[] {
  const out: { name: string; place: string }[] = []
  const expected = (value: Scalar | Template, place: string) => {
    if (typeof value === 'object') {
      for (const name of templateParams(value)) out.push({ name, place })
    }
  }
  const walk = (c: Condition): void => {
    switch (c.op) {
      case 'all':
      case 'any':
        return c.conditions.forEach(walk)
      case 'not':
        return walk(c.condition)
      case 'oneOf':
        for (const e of c.expected) expected(e, c.place)
        return
      case 'equals':
      case 'contains':
        return expected(c.expected, c.place)
    }
  }
  conditions.forEach(walk)
  return out
}

function render(expected: Scalar | Template, ctx: TemplateContext): Scalar {
  return typeof expected === 'object' ? renderTemplate(expected, ctx) : expected
}

/**
 * Scalars compare by value; a number or boolean claim also equals its decimal or text form. An
 * integer beyond 2^53 equals nothing: the token's digits were rounded when parsed
 * (9007199254740993 reads as …992, its neighbour's).
 */
function sameScalar(actual: unknown, expected: Scalar): boolean {
  if (typeof actual === 'number' && Number.isInteger(actual) && !Number.isSafeInteger(actual)) {
    return false
  }
  if (actual === expected) return true
  if (typeof expected === 'string' && (typeof actual === 'number' || typeof actual === 'boolean')) {
    return String(actual) === expected
  }
  return false
}

function show(value: unknown): string {
  return value === undefined ? 'absent' : JSON.stringify(value)
}

/** A list of strings from a claim: an array's string items, or a space-separated string. */
function stringList(value: unknown): readonly string[] {
  if (typeof value === 'string') return value.split(' ').filter((s) => s !== '')
  if (Array.isArray(value)) return value.filter((item): item is string => typeof item === 'string')
  return []
}

/** Evaluates a condition; with `trace`, records what each leaf saw. */
export function evaluate(
  condition: Condition,
  claims: Claims,
  ctx: TemplateContext,
  trace?: Trace,
): boolean {
  switch (condition.op) {
    case 'all':
      return condition.conditions.every((c) => evaluate(c, claims, ctx, trace))
    case 'any':
      return condition.conditions.some((c) => evaluate(c, claims, ctx, trace))
    case 'not': {
      if (evaluate(condition.condition, claims, ctx, trace)) return false
      // A claim of another type than compared fails its condition, and so fails `not` too: a
      // `role: ["guest"]` is no pass for `not: { claim: role, equals: guest }`. (A claim the
      // token lacks stays a pass: `not: { claim: banned, equals: true }`.)
      const comparable = isComparable(condition.condition, claims)
      if (!comparable) {
        trace?.push({
          step: `${condition.place}: a claim of another type than compared`,
          ok: false,
          detail: 'not does not turn that into a pass',
        })
      }
      return comparable
    }
  }
  const actual = readClaim(claims, condition.claim)
  let ok: boolean
  let wanted: string
  switch (condition.op) {
    case 'equals': {
      const expected = render(condition.expected, ctx)
      ok = actual !== undefined && sameScalar(actual, expected)
      wanted = `equals ${JSON.stringify(expected)}`
      break
    }
    case 'oneOf': {
      const expected = condition.expected.map((e) => render(e, ctx))
      ok = actual !== undefined && expected.some((e) => sameScalar(actual, e))
      wanted = `one of ${JSON.stringify(expected)}`
      break
    }
    case 'contains': {
      const expected = render(condition.expected, ctx)
      ok = Array.isArray(actual)
        ? actual.some((item) => sameScalar(item, expected))
        : typeof actual === 'string' && typeof expected === 'string' &&
          stringList(actual).includes(expected)
      wanted = `contains ${JSON.stringify(expected)}`
      break
    }
    case 'matches':
      ok = typeof actual === 'string' && condition.regex.test(actual)
      wanted = `matches ${condition.regex.source.slice(4, -2)}`
      break
  }
  trace?.push({
    step: `${condition.place}: claim ${condition.claim.raw} ${wanted}`,
    ok,
    detail: `saw ${show(actual)}`,
  })
  return ok
}

/**
 * True when every claim `condition` compares is absent (or null) or of a type its operator can
 * match with the expected value's: a `true`/`"true"` mismatch, a nested list under `contains`, an
 * integer beyond 2^53 are not.
 */
function isComparable(condition: Condition, claims: Claims): boolean {
  switch (condition.op) {
    case 'all':
    case 'any':
      return condition.conditions.every((c) => isComparable(c, claims))
    case 'not':
      return isComparable(condition.condition, claims)
  }
  const actual = readClaim(claims, condition.claim)
  if (actual === undefined || actual === null) return true
  switch (condition.op) {
    case 'equals':
      return scalarComparable(actual, condition.expected)
    case 'oneOf':
      return condition.expected.some((e) => scalarComparable(actual, e))
    case 'contains':
      return Array.isArray(actual)
        ? actual.every((item) => item === null || scalarComparable(item, condition.expected))
        : typeof actual === 'string' && kindOf(condition.expected) === 'string'
    case 'matches':
      return typeof actual === 'string'
  }
}

/** The type an expected value compares as (a template renders to a string). */
function kindOf(expected: Scalar | Template): string {
  return typeof expected === 'object' ? 'string' : typeof expected
}

/** True when sameScalar can match `actual` with a value of `expected`'s type. */
function scalarComparable(actual: unknown, expected: Scalar | Template): boolean {
  if (typeof actual === 'number' && Number.isInteger(actual) && !Number.isSafeInteger(actual)) {
    return false
  }
  const kind = kindOf(expected)
  const actualKind: string = typeof actual
  if (actualKind === kind) return true
  return kind === 'string' && (actualKind === 'number' || actualKind === 'boolean')
}

/** The token's scopes: the `scope` string, else an `scp` array or string. */
export function tokenScopes(claims: Claims): readonly string[] {
  return typeof claims.scope === 'string' ? stringList(claims.scope) : stringList(claims.scp)
}

/** One kind of requirement: its fields of Requirements, compiled, checked and described. */
interface RequirementKind<K extends keyof Requirements> {
  /** Its fields from the input; `place` is where the requirements are (`routes[2].require`). */
  readonly compile: (input: RequirementsInput, place: string) => Pick<Requirements, K>
  /** Throws ForbiddenError when the claims do not meet it; with `trace`, records what it saw. */
  readonly check: (req: Requirements, claims: Claims, ctx: TemplateContext, trace?: Trace) => void
  /** Parts of a route's one-line description (`jwtgate check`); none when it asks nothing. */
  readonly describe: (req: Requirements) => string[]
}

const SCOPES: RequirementKind<'scopesAll' | 'scopesAny'> = {
  compile: (input) => ({ scopesAll: input.scopes?.all ?? [], scopesAny: input.scopes?.any ?? [] }),
  check(req, claims, _ctx, trace) {
    if (req.scopesAll.length === 0 && req.scopesAny.length === 0) return
    const scopes = tokenScopes(claims)
    const allOk = req.scopesAll.every((s) => scopes.includes(s))
    const anyOk = req.scopesAny.length === 0 || req.scopesAny.some((s) => scopes.includes(s))
    trace?.push({
      step: `${req.place}.scopes: all of [${req.scopesAll.join(' ')}]${
        req.scopesAny.length > 0 ? `, any of [${req.scopesAny.join(' ')}]` : ''
      }`,
      ok: allOk && anyOk,
      detail: `saw [${scopes.join(' ')}]`,
    })
    if (!allOk || !anyOk) {
      throw new ForbiddenError('insufficient_scope', 'The token lacks a required scope.', [
        ...req.scopesAll,
        ...req.scopesAny,
      ], `${req.place}.scopes`)
    }
  },
  describe: (req) => [
    ...(req.scopesAll.length > 0 ? [`scopes ${req.scopesAll.join(' ')}`] : []),
    ...(req.scopesAny.length > 0 ? [`any scope of ${req.scopesAny.join(' ')}`] : []),
  ],
}

const ROLES: RequirementKind<'rolesAny' | 'rolesClaim'> = {
  compile: (input) => ({
    rolesAny: input.roles?.any ?? [],
    rolesClaim: claimPath(input.roles?.claim ?? ROLES_CLAIM),
  }),
  check(req, claims, _ctx, trace) {
    if (req.rolesAny.length === 0) return
    const roles = stringList(readClaim(claims, req.rolesClaim))
    const ok = req.rolesAny.some((r) => roles.includes(r))
    trace?.push({
      step: `${req.place}.roles: any of [${req.rolesAny.join(' ')}] in ${req.rolesClaim.raw}`,
      ok,
      detail: `saw [${roles.join(' ')}]`,
    })
    if (!ok) {
      throw new ForbiddenError(
        'insufficient_role',
        'The token lacks a required role.',
        [],
        `${req.place}.roles`,
      )
    }
  },
  describe: (req) =>
    req.rolesAny.length > 0 ? [`roles ${req.rolesAny.join(' ')} in ${req.rolesClaim.raw}`] : [],
}

const CLAIM_CONDITIONS: RequirementKind<'claims'> = {
  compile: (input, place) => ({
    claims: (input.claims ?? []).map((c, i) => compileCondition(c, `${place}.claims[${i}]`)),
  }),
  check(req, claims, ctx, trace) {
    for (const condition of req.claims) {
      if (!evaluate(condition, claims, ctx, trace)) {
        throw new ForbiddenError(
          'claim_mismatch',
          'The token does not meet a requirement of this route.',
          [],
          condition.place,
        )
      }
    }
  },
  describe: (req) =>
    req.claims.length > 0
      ? [`${req.claims.length} claim condition${req.claims.length > 1 ? 's' : ''}`]
      : [],
}

/** Every kind, in the order they are checked: the first one not met is the one reported. */
const KINDS = [SCOPES, ROLES, CLAIM_CONDITIONS] as const

/** Compiles a route's requirements; `place` names them in messages (`routes[2].require`). */
export function compileRequirements(input: RequirementsInput, place: string): Requirements {
  return {
    ...SCOPES.compile(input, place),
    ...ROLES.compile(input, place),
    ...CLAIM_CONDITIONS.compile(input, place),
    place,
  }
}

/** A route that requires nothing beyond a valid token. */
export const NO_REQUIREMENTS: Requirements = Object.freeze(compileRequirements({}, ''))

/** Throws ForbiddenError naming the first requirement the claims do not meet. */
export function checkRequirements(
  req: Requirements,
  claims: Claims,
  ctx: TemplateContext,
  trace?: Trace,
): void {
  for (const kind of KINDS) kind.check(req, claims, ctx, trace)
}

/** What the requirements ask, as parts of a route's description; empty when nothing. */
export function describeRequirements(req: Requirements): string[] {
  return KINDS.flatMap((kind) => kind.describe(req))
}
