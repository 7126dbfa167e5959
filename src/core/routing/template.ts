/**
 * @module Templates of the request: `{params.tenant}`, `{method}`, used as the expected value of a
 * claim condition or as a path rewrite (`/v2/orders/{params.id}`). Parsed once at start.
 */

/** A piece of a template: literal text, a route parameter (`{params.id}`), or `{method}`. */
export type TemplatePart = string | { readonly param: string } | { readonly method: true }

/** A parsed template (`/v2/orders/{params.id}`). */
export interface Template {
  /** The template as written. */
  readonly text: string
  /** Its literal and placeholder pieces, in order. */
  readonly parts: readonly TemplatePart[]
  /** True when the template has no placeholders. */
  readonly constant: boolean
}

/** What a template is rendered against. */
export interface TemplateContext {
  readonly method: string
  readonly params: Readonly<Record<string, string>>
}

const PLACEHOLDER = /\{([^{}]*)\}/g

/** Why `text` is not a valid template, or undefined when it is. */
export function templateProblem(text: string, isPath = false): string | undefined {
  if (isPath && !text.startsWith('/')) return 'must start with /'
  for (const match of text.matchAll(PLACEHOLDER)) {
    const name = match[1]!
    if (name !== 'method' && !/^params\.[A-Za-z_]\w*$/.test(name)) {
      return `unknown placeholder {${name}} (expected {params.NAME} or {method})`
    }
  }
  const stripped = text.replace(PLACEHOLDER, '')
  if (stripped.includes('{') || stripped.includes('}')) return 'has an unbalanced { or }'
  return undefined
}

/** Parses a template already checked by `templateProblem`. */
export function parseTemplate(text: string): Template {
  const parts: TemplatePart[] = []
  let last = 0
  for (const match of text.matchAll(PLACEHOLDER)) {
    if (match.index! > last) parts.push(text.slice(last, match.index))
    const name = match[1]!
    parts.push(name === 'method' ? { method: true } : { param: name.slice('params.'.length) })
    last = match.index! + match[0].length
  }
  if (last < text.length) parts.push(text.slice(last))
  return Object.freeze({
    text,
    parts: Object.freeze(parts),
    constant: parts.every((p) => typeof p === 'string'),
  })
}

/**
 * The template's text with placeholders filled in; a missing param renders as '' (the
 * configuration names only parameters its route has: from-file.ts), an inherited property
 * (`{params.constructor}`) never counts.
 */
export function renderTemplate(template: Template, ctx: TemplateContext): string {
  if (template.constant) return template.text
  let out = ''
  for (const part of template.parts) {
    if (typeof part === 'string') out += part
    else if ('method' in part) out += ctx.method
    else out += Object.hasOwn(ctx.params, part.param) ? ctx.params[part.param] : ''
  }
  return out
}

/** The names of the params a template uses. */
export function templateParams(template: Template): string[] {
  return template.parts.flatMap((p) => (typeof p === 'object' && 'param' in p ? [p.param] : []))
}
