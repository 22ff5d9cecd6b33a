// The targets, each judged on the median over the runs (ratios are taken within one
// run, so a busy machine moves both sides together).
import type { Spread } from "./stats.ts";

export interface Target {
  key: string;
  label: string;
  op: ">=" | "<=" | "=";
  /** A number, or the key of another figure (tokens.requests = tokens.configs). */
  value: number | string;
}

export const TARGETS: Target[] = [
  { key: "ratios.productVsTransportCeiling", label: "product, 1 worker / transport ceiling (plain)", op: ">=", value: 0.6 },
  { key: "workerCpuMsPerEmail", label: "worker CPU per email, ms (plain)", op: "<=", value: 0.4 },
  { key: "ratios.twoWorkersVsOne", label: "2 workers / 1 worker (STARTTLS)", op: ">=", value: 1.3 },
  { key: "ratios.productVsNaive", label: "product / naive peer (STARTTLS, XOAUTH2)", op: ">=", value: 5 },
  { key: "ratios.oauthVsPassword", label: "OAuth / password (STARTTLS, same configs)", op: ">=", value: 0.95 },
  { key: "tokens.requests", label: "token requests = configs", op: "=", value: "tokens.configs" },
  { key: "latency.paced500.p99Ms", label: "p99 enqueue→250 at 500/s, ms", op: "<=", value: 50 },
  { key: "latency.incidentBehindBlastMs", label: "incident behind a blast, ms", op: "<=", value: 100 },
  { key: "backlog.workerPeakRssMb", label: "backlog: worker peak RSS, MB", op: "<=", value: 200 },
  { key: "backlog.redisBytesPerJob", label: "backlog: Redis bytes per waiting job", op: "<=", value: 2048 },
  { key: "backlog.enqueuePerSecond", label: "backlog: enqueue, jobs/s", op: ">=", value: 10_000 },
  { key: "ratios.limitsOnVsOff", label: "limits on / off (within 10%)", op: ">=", value: 0.9 },
];

export interface Verdict {
  target: Target;
  /** The median; undefined when the figure was not measured (e.g. limits not available). */
  actual?: number;
  expected?: number;
  met?: boolean;
}

export function judge(figures: Map<string, Spread>): Verdict[] {
  return TARGETS.map((target) => {
    const actual = figures.get(target.key)?.median;
    const expected = typeof target.value === "number" ? target.value : figures.get(target.value)?.median;
    if (actual === undefined || expected === undefined) return { target };
    const met = target.op === ">=" ? actual >= expected : target.op === "<=" ? actual <= expected : actual === expected;
    return { target, actual, expected, met };
  });
}
