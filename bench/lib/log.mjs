/**
 * @module Progress on stderr, with the time since start; warnings are also kept for the report.
 */
const t0 = performance.now()
export const warnings = []

export function log(message) {
  process.stderr.write(
    `[${((performance.now() - t0) / 1000).toFixed(1).padStart(5)}s] ${message}\n`,
  )
}

export function warn(message) {
  warnings.push(message)
  log(`WARN ${message}`)
}

/** Seconds since the run started. */
export const elapsed = () => (performance.now() - t0) / 1000
