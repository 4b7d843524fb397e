// What the bench scripts share to sum up their measurements. Loads nothing, so a measured process
// may import it.

/** The median of `xs`, NaN left out (NaN when nothing is left). */
export function median(xs) {
  const sorted = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

/** The `p`th percentile of `xs` (nearest rank). */
export function percentile(xs, p) {
  const sorted = [...xs].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]
}

/**
 * One window's figure (`{ rps, cpuMicrosPerRequest }`) as a ratio to another's measured in the same
 * cycle: by requests per second, or by server CPU per request (`by: 'cpu'`, the throughput ratio a
 * CPU-bound server would see). NaN when there is no other.
 */
export function ratioTo(window, other, by = 'rps') {
  if (other === undefined) return Number.NaN
  return by === 'cpu' ? other.cpuMicrosPerRequest / window.cpuMicrosPerRequest : window.rps / other.rps
}
