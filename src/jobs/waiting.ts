// When and why a delayed job waits. BullMQ keeps the run time only as the job's score in the
// delayed set (the hash's `delay` is relative to whenever it was last moved), so the time is read
// from there. The reason is `job.data.waitingFor` when the code that delayed the job set one
// (rate limit, throttling, breaker: see `WaitReason`), else a retry's backoff.
import type { Redis } from "ioredis";
import type { EmailQueue } from "../queue.ts";

/** Why a job is delayed. Producers of a wait set `waitingFor` (and `waitingUntil`) in the job's data. */
export type WaitReason = "backoff" | "rate limit" | "throttling" | "breaker" | (string & {});

export interface WaitInfo {
  reason: WaitReason;
  /** Epoch ms of the next run, when known. */
  until: number | null;
}

/** The fields a delayer may set in a job's data (both optional). */
export interface WaitFields {
  waitingFor?: unknown;
  waitingUntil?: unknown;
}

/** The job's wait, from its data's `waitingFor`/`waitingUntil` when present, else backoff until `runAt`. */
export function waitInfo(jobData: unknown, runAt: number | null): WaitInfo {
  const data = jobData !== null && typeof jobData === "object" ? (jobData as WaitFields) : undefined;
  const reason = typeof data?.waitingFor === "string" && data.waitingFor.trim() ? data.waitingFor.trim() : "backoff";
  const until = typeof data?.waitingUntil === "number" && Number.isFinite(data.waitingUntil) ? data.waitingUntil : runAt;
  return { reason, until };
}

/** BullMQ scores delayed jobs as `runAt * 0x1000 + counter`. */
const SCORE_FACTOR = 0x1000;

/**
 * Run times (epoch ms) of those of `ids` that are in the queue's delayed set, in one round trip.
 * `redis` is a connection to the queue's Redis (the queue's own is not exposed by BullMQ 6).
 */
export async function delayedRunTimes(redis: Redis, queue: Pick<EmailQueue, "toKey">, ids: string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  if (ids.length === 0) return out;
  const pipeline = redis.pipeline();
  const delayedKey = queue.toKey("delayed");
  for (const id of ids) pipeline.zscore(delayedKey, id);
  const replies = (await pipeline.exec()) ?? [];
  replies.forEach(([err, score], i) => {
    if (err || score === null || score === undefined) return;
    out.set(ids[i]!, Math.floor(Number(score) / SCORE_FACTOR));
  });
  return out;
}
