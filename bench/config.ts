// The benchmark's settings: environment variables, fixed sizes and the message everyone sends.
// See bench/run.ts for what each setting means.
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { IncidentData } from "../src/jobs/contracts.ts";

export const ROOT = fileURLToPath(new URL("..", import.meta.url));
export const RESULTS_FILE = join(ROOT, "bench", "results.json");
export const WORKER_LOG = join(ROOT, "bench", "worker.log");

export const REDIS_URL = process.env.REDIS_URL?.trim() || "redis://127.0.0.1:6379";
export const COUNT = intEnv("BENCH_COUNT", 10_000, 1);
export const CONCURRENCY = intEnv("BENCH_CONCURRENCY", 20, 1);
export const CEILING_INFLIGHT = intEnv("BENCH_CEILING_INFLIGHT", 50, 1);
export const WARMUP = 200;
export const TARGET_RATIO = 0.8;
/** A phase fails when the sink's count has not moved for this long. */
export const STALL_MS = 20_000;

export const PROJECT_ID = "bench";
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
