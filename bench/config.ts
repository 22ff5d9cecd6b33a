// The benchmark's settings: command line (--quick), environment variables, phase sizes and the
// message everyone sends. See bench/run.ts for what each phase measures.
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { IncidentData, StatusPageData } from "../src/jobs/contracts.ts";

export const ROOT = fileURLToPath(new URL("..", import.meta.url));
export const RESULTS_FILE = join(ROOT, "bench", "results.json");
export const WORKER_LOG = join(ROOT, "bench", "worker.log");

export const QUICK = process.argv.includes("--quick");

/** Phase sizes. `--quick` runs every phase smaller (under 90 s); each is overridable. */
export const SIZES = {
  /** Rounds of the throughput phases; every figure is the median/min/max over them. */
  runs: intEnv("BENCH_RUNS", QUICK ? 1 : 3, 1),
  /** Emails per throughput phase (ceilings and product). */
  count: intEnv("BENCH_COUNT", QUICK ? 1500 : 10_000, 1),
  warmup: QUICK ? 100 : 200,
  /** Emails the naive peer sends (each on a new connection: slow by design). */
  naive: intEnv("BENCH_NAIVE_COUNT", QUICK ? 200 : 1000, 1),
  /** Paced latency: rate and seconds. */
  pacedRate: intEnv("BENCH_PACED_RATE", 500, 1),
  pacedSeconds: intEnv("BENCH_PACED_SECONDS", QUICK ? 5 : 20, 1),
  /** Seconds at the same pace before the measured ones (a fresh worker warming up). */
  pacedWarmSeconds: intEnv("BENCH_PACED_WARM_SECONDS", QUICK ? 1 : 2, 0),
  /** The status-page blast the incident email is enqueued behind. */
  blast: intEnv("BENCH_BLAST", QUICK ? 5000 : 20_000, 1),
  /** Jobs in the backlog phase. */
  backlog: intEnv("BENCH_BACKLOG", QUICK ? 10_000 : 100_000, 1),
  /** Emails of the Redis-cost phase (Redis MONITOR on: slower, counted not timed). */
  redisCost: intEnv("BENCH_REDIS_COST_COUNT", QUICK ? 1000 : 3000, 1),
  /** OAuth (and its password twin) spreads the emails over this many projects, each its own config. */
  configs: intEnv("BENCH_CONFIGS", 4, 1),
};

export const CONCURRENCY = intEnv("BENCH_CONCURRENCY", 20, 1);
export const CEILING_INFLIGHT = intEnv("BENCH_CEILING_INFLIGHT", 50, 1);
/** A phase fails when the sink's count has not moved for this long. */
export const STALL_MS = 20_000;

export const FROM_EMAIL = "bench@notify.test";
export const FROM_NAME = "Bench";
/** Same pool shape as src/delivery/transport-options.ts. */
export const POOL = { maxConnections: 5, maxMessages: 1000 } as const;

/** One incident, fanned out to every recipient (what a real incident notification looks like). */
export const INCIDENT: IncidentData = {
  incidentId: "4711",
  title: "Elevated error rates on the checkout API",
  state: "created",
  severity: "critical",
  description:
    "Since 14:02 UTC about 12% of requests to the checkout API fail with 502 errors. " +
    "The on-call engineer has been paged and is investigating the upstream load balancer.",
  monitors: ["checkout-api (eu-west-1)", "checkout-api (us-east-1)", "payments webhook"],
  url: "https://status.example.com/incidents/4711",
};

/** A status page's maintenance announcement, to every subscriber (the blast). */
export const STATUS_PAGE: StatusPageData = {
  statusPageId: "sp-1",
  statusPageName: "Acme Status",
  kind: "maintenance",
  title: "Scheduled database maintenance on Sunday",
  body: "On Sunday between 02:00 and 04:00 UTC the primary database is upgraded. The dashboard may be read-only for up to 10 minutes.",
  url: "https://status.example.com/maintenance/12",
  unsubscribeUrl: "https://status.example.com/unsubscribe",
};

function intEnv(name: string, fallback: number, min: number): number {
  const raw = process.env[name]?.trim();
  if (!raw) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) throw new Error(`${name} must be a whole number >= ${min} (got "${raw}")`);
  return value;
}

export const recipients = (kind: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${kind}${i}@bench.test`);

export function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Milliseconds on the machine's monotonic clock (CLOCK_MONOTONIC on Linux), sub-millisecond:
 * the same clock in every process, unlike performance.timeOrigin + now(), which is a few ms
 * apart between processes.
 */
export const monotonicMs = () => Number(process.hrtime.bigint()) / 1e6;
