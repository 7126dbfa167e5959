/**
 * @module `jwtgate schema`: the configuration file's JSON Schema, generated from the one valibot
 * schema (never written by hand), for editors to autocomplete and validate.
 */
import { toJsonSchema } from '@valibot/to-json-schema'
import { FileSchema } from '../core/config/file-schema.ts'
import { VERSION } from '../version.ts'

/** The JSON Schema (draft-07) of the configuration file. */
export function jsonSchema(): Record<string, unknown> {
  // Checks that JSON Schema cannot express (durations, patterns, templates) are left to `jwtgate check`.
  const schema = toJsonSchema(FileSchema, { errorMode: 'ignore' }) as Record<string, unknown>
  return {
    ...schema,
    title: `jwtgate ${VERSION} configuration`,
    description: 'jwtgate configuration file (JSON or YAML). Validate fully with `jwtgate check`.',
  }
}
