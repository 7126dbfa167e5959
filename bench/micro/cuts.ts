/**
 * @module The steps of jwtgate's request path that bun-floor has no equivalent of, each as a cut:
 * text replacements that take the step out of a copy of `src/` (steps.ts measures the copies).
 * A cut that no longer applies — its text changed in `src/` — fails loudly (`applyCut`), and
 * tests/bench/cuts.test.ts checks every one against the current source, so that the
 * measurement cannot silently measure something else.
 */

/** One replacement in one file of `src/`: `find` must occur exactly once. */
export interface Edit {
  readonly file: string
  readonly find: string
  readonly replace: string
}

/** A step of the request path, and how to take it out. */
export interface Cut {
  readonly label: string
  readonly edits: readonly Edit[]
}

/**
 * The cuts, in the order steps.ts applies them (each copy has its own cut and every earlier one).
 * What is left after the last is the pipeline's own structure: its async frames, its records and
 * the calls between the steps.
 */
export const CUTS: readonly Cut[] = [
  {
    label: 'metrics and the access record (and the client X-Request-Id check)',
    edits: [
      {
        file: 'core/exchange.ts',
        find: "  metrics.countRequest(x.route ?? 'none', x.method, x.status, x.seconds)\n",
        replace: '',
      },
      {
        file: 'core/gateway.ts',
        find: '        metrics.observeUpstream(outcome.upstream, outcome.upstreamSeconds!)\n',
        replace: '',
      },
      {
        file: 'core/gateway.ts',
        find: '    settle(x, response, metrics, accessLog, elapsed)\n',
        replace: '',
      },
      {
        file: 'core/gateway.ts',
        find: "  const incoming = request.headers.get('x-request-id')\n" +
          '  return acceptableRequestId(incoming) ? incoming : crypto.randomUUID()',
        replace: '  return crypto.randomUUID()',
      },
    ],
  },
  {
    label: 'authentication (a cached token: extraction, lookup, the claim header)',
    edits: [{
      file: 'core/decide.ts',
      find: "  if (route.auth === 'public') {",
      replace: "  if (route.auth === 'public' || route.auth !== 'public') {",
    }],
  },
  {
    label: 'the per-request abort (its AbortController and deadline slot)',
    edits: [
      {
        file: 'core/proxy/forward.ts',
        find: '  const controller = new AbortController()\n' +
          '  const slot = trackDeadline(controller, request, timeoutMs, sentAt)',
        replace: '  const controller = SHARED\n  const slot = -1',
      },
      {
        file: 'core/proxy/forward.ts',
        find: 'export interface ForwardOptions',
        replace: 'const SHARED = new AbortController()\nexport interface ForwardOptions',
      },
      {
        file: 'core/proxy/forward.ts',
        find: '  untrackDeadline(call.slot, call.controller!)\n',
        replace: '',
      },
    ],
  },
  {
    label: 'the header rules (prefixes, token headers, folded names)',
    edits: [{
      file: 'core/proxy/headers.ts',
      find: '    !filter.strip.has(name) &&\n' +
        '    !filter.prefixes.matches(name) &&\n' +
        '    !droppedToken(filter.tokenHeaders.get(name), value, this.kept) &&\n' +
        "    (this.acceptEncoding || name !== 'accept-encoding') &&\n" +
        "    !((name.includes('_') || name.includes('.')) && folded(name, filter))",
      replace: '    !filter.strip.has(name)',
    }],
  },
  {
    label: 'the header pass (one Headers.forEach, measuring the 431 cap)',
    edits: [{
      file: 'core/proxy/headers.ts',
      find: '  incoming.forEach(visit, pass)',
      // What the pass finds in the requests steps.ts sends, without visiting them.
      replace:
        "  pass.drop = ['host', 'connection', 'authorization', 'x-user-id', 'x-request-id']\n" +
        "  pass.host = incoming.get('host')",
    }],
  },
  {
    label: 'the Host check, the target and the route match',
    edits: [
      {
        file: 'core/gateway.ts',
        find: "    checkHost(request.headers.get('host'))\n" +
          '    const target = check === undefined\n' +
          '      ? normalizeTarget(request.url)\n' +
          '      : normalizeOriginTarget(check.uri)',
        replace:
          '    const target = (s as unknown as { t: Target }).t ??= normalizeTarget(request.url)',
      },
      {
        file: 'core/gateway.ts',
        find: '    const match = route(s, method, target.path)',
        replace:
          '    const match = (s as unknown as { m: RouteMatch }).m ??= route(s, method, target.path)',
      },
      {
        file: 'core/gateway.ts',
        find: "import type { Config } from './config/types.ts'\n",
        replace: "import type { Config } from './config/types.ts'\n" +
          'type RouteMatch = ReturnType<typeof route>\n',
      },
    ],
  },
  {
    label: "the response's record (its length and whether to watch its body)",
    edits: [{
      file: 'core/proxy/proxy.ts',
      find: '): Response {\n  const encoding = deps.decodedEncodings.length > 0',
      replace: '): Response {\n' +
        "  if (deps.headerBuild === 'edit') {\n" +
        '    cleanDownstream(response.headers, false, requestId)\n' +
        '    return response\n' +
        '  }\n' +
        '  const encoding = deps.decodedEncodings.length > 0',
    }],
  },
]

/** `text` (the file `edit.file`) with the edit applied; throws when its text is not found exactly once. */
export function applyEdit(text: string, edit: Edit): string {
  const count = text.split(edit.find).length - 1
  if (count !== 1) {
    throw new Error(
      `bench/micro/cuts.ts: ${edit.file} has ${count} copies of ${
        JSON.stringify(edit.find.slice(0, 60))
      }…; the source changed, update the cut`,
    )
  }
  return text.replace(edit.find, () => edit.replace)
}
