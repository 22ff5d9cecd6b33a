// Figures over the runs: each round (and each once-per-bench phase) reports flat
// "dotted.key" → number; the bench keeps median/min/max of every key.

export type Figures = Record<string, number | null>;

export interface Spread {
  median: number;
  min: number;
  max: number;
  /** How many runs had the figure. */
  n: number;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function spread(runs: Figures[]): Map<string, Spread> {
  const byKey = new Map<string, number[]>();
  for (const run of runs) {
    for (const [key, value] of Object.entries(run)) {
      if (value === null || !Number.isFinite(value)) continue;
      byKey.set(key, [...(byKey.get(key) ?? []), value]);
    }
  }
  const out = new Map<string, Spread>();
  for (const [key, values] of byKey) out.set(key, { median: median(values), min: Math.min(...values), max: Math.max(...values), n: values.length });
  return out;
}

/** { "a.b": x } → { a: { b: x } }. */
export function nest(flat: Map<string, unknown>): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  for (const [key, value] of flat) {
    const parts = key.split(".");
    let node = root;
    for (const part of parts.slice(0, -1)) node = (node[part] ??= {}) as Record<string, unknown>;
    node[parts[parts.length - 1]!] = value;
  }
  return root;
}
