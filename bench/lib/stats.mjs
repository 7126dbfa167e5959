/**
 * @module Medians and paired ratios. A ratio between two configs is the median of per-round
 * ratios, each taken between runs of the same round: slow drift of the machine (another job
 * starting, a noisy neighbour) moves both sides of a pair and cancels out.
 */
export function median(values) {
  const sorted = values.filter((v) => typeof v === 'number' && Number.isFinite(v)).sort((a, b) =>
    a - b
  )
  if (sorted.length === 0) return undefined
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

/** `runs` are `{ round, [field] }`; pairs `a` and `b` by round. */
export function pairedRatio(a, b, field = 'rps') {
  const byRound = new Map(b.map((run) => [run.round, run[field]]))
  return median(
    a.filter((run) => byRound.has(run.round)).map((run) => run[field] / byRound.get(run.round)),
  )
}

/** (max − min) / median of a field over runs, in %: how much the rounds disagree. */
export function spread(runs, field = 'rps') {
  const values = runs.map((run) => run[field])
  if (values.length < 2) return undefined
  return (100 * (Math.max(...values) - Math.min(...values))) / median(values)
}
