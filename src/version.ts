/**
 * @module The jwtgate version (kept equal to package.json's and deno.json's: a test checks) and
 * what a build stamped into the executable: the commit and the target (`scripts/build.mjs` passes
 * them with `bun build --define`). Run from source, neither is known.
 */
/** This jwtgate's version (semver), as in package.json and deno.json. */
export const VERSION = '0.12.0'

// Replaced by `bun build --define` in scripts/build.mjs; undeclared (typeof: 'undefined') elsewhere.
declare const JWTGATE_COMMIT: string | undefined
declare const JWTGATE_TARGET: string | undefined

/** The commit the executable was built from; undefined when run from source. */
export const COMMIT: string | undefined = typeof JWTGATE_COMMIT === 'string'
  ? JWTGATE_COMMIT
  : undefined

/** The `bun build --compile` target (`bun-linux-x64`, …); undefined when run from source. */
export const TARGET: string | undefined = typeof JWTGATE_TARGET === 'string'
  ? JWTGATE_TARGET
  : undefined

/**
 * What `jwtgate --version` prints: `jwtgate 0.1.0 (commit 1a2b3c4d5e6f, bun-linux-x64)`, or from
 * source `jwtgate 0.1.0 (source, deno 2.9.6)`.
 */
export function versionLine(runtime: string): string {
  return COMMIT === undefined || TARGET === undefined
    ? `jwtgate ${VERSION} (source, ${runtime})`
    : `jwtgate ${VERSION} (commit ${COMMIT}, ${TARGET})`
}
