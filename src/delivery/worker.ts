// The email worker: a BullMQ Worker around the deliverer, with our retry policy and a
// bounded, graceful close.
import { Worker, type WorkerOptions } from "bullmq";
import type { Redis } from "ioredis";
import { QUEUE_NAME, type Keys } from "../keys.ts";
import type { EmailJobData, SendResult } from "../jobs/contracts.ts";
import type { Logger } from "../log.ts";
import { BACKOFF_TYPE } from "../queue.ts";
import { retryDelay, type BackoffOptions } from "./backoff.ts";
import { createDeliverer, type DeliverDeps } from "./deliver.ts";
import { isConnectionError } from "../redis/health.ts";

/**
 * How long a job's lock lives without renewal (renewed every half of it). With the stall
 * check below, a killed worker's jobs are back with another replica within
 * LOCK_DURATION_MS + STALLED_INTERVAL_MS (10 s, plus the stalled-marker grace of deliver.ts; BullMQ's defaults make it 60 s). Shorter
 * would make a busy event loop look like a dead worker; the 250 marker keeps such a false
 * stall from sending twice, but it would still cost a re-run.
 */
export const LOCK_DURATION_MS = 8000;
/** How often each worker looks for jobs whose lock expired. */
export const STALLED_INTERVAL_MS = 2000;
/**
 * Stalls a job survives before BullMQ fails it. Every Redis outage longer than the lock
 * stalls each in-flight job once; the 250 marker makes those re-runs harmless.
 */
export const MAX_STALLED_COUNT = 5;
import { withWaits } from "./wait.ts";

export interface EmailWorkerOptions {
  /** Needs `maxRetriesPerRequest: null`. */
  connection: Redis;
  keys: Keys;
  deps: DeliverDeps;
  /** Jobs in flight. Default 20. */
  concurrency?: number;
  backoff?: BackoffOptions;
  log: Logger;
  /** Escape hatch for BullMQ tuning (lock and stall timings in tests). */
  bullmq?: Partial<WorkerOptions>;
}

export type EmailWorker = Worker<EmailJobData, SendResult>;

export function createEmailWorker(options: EmailWorkerOptions): EmailWorker {
  const backoff = options.backoff ?? { baseMs: 2000, maxMs: 15 * 60_000 };
  const worker = new Worker<EmailJobData, SendResult>(QUEUE_NAME, withWaits(createDeliverer(options.deps)), {
    connection: options.connection,
    prefix: options.keys.bullPrefix,
    concurrency: options.concurrency ?? 20,
    lockDuration: LOCK_DURATION_MS,
    stalledInterval: STALLED_INTERVAL_MS,
    maxStalledCount: MAX_STALLED_COUNT,
    settings: {
      backoffStrategy: (attemptsMade, type, err) => (type === BACKOFF_TYPE ? retryDelay(attemptsMade, err, backoff) : 0),
    },
    ...options.bullmq,
  });
  // A worker must survive Redis outages; BullMQ reconnects by itself, and the connections'
  // RedisHealth has already said, once, that Redis is away.
  const lostLocks = new Set<string>();
  worker.on("error", (err) => {
    if (isConnectionError(err)) return;
    // "Lock mismatch": a failover brought back an older copy of the lock (another replica's).
    const lostLock = /^Missing lock for job (\S+)|could not renew lock for job (\S+)|^Lock mismatch for job ([^\s.]+)/i.exec(err.message);
    if (lostLock) {
      const jobId = lostLock[1] ?? lostLock[2] ?? lostLock[3] ?? "";
      if (lostLocks.has(jobId)) return;
      lostLocks.add(jobId);
      if (lostLocks.size > 10_000) lostLocks.clear();
      options.log.warn({ jobId }, "lost the job's lock (a Redis outage or a stalled process); its next run checks the 250 marker before sending");
      return;
    }
    // The job ran, but the master that had it died before a replica did: the promoted one
    // never heard of it (REDIS_WAIT_REPLICAS closes this). Nothing left to finish.
    const vanished = /^Missing key for job ([^\s.]+)/i.exec(err.message);
    if (vanished) {
      const jobId = vanished[1]!;
      if (lostLocks.has(jobId)) return;
      lostLocks.add(jobId);
      options.log.warn({ jobId }, "the job is no longer in Redis (a failover lost it after it ran); nothing to finish");
      return;
    }
    options.log.error({ err }, "worker error");
  });
  return worker;
}

/**
 * Stops taking jobs and waits up to `graceMs` for in-flight ones; then `onGraceOver` (e.g. to
 * stop waiting for Redis) and a forced close. Resolves "drained" or "forced".
 */
export async function closeWorker(worker: EmailWorker, graceMs: number, onGraceOver?: () => void): Promise<"drained" | "forced"> {
  let timer: NodeJS.Timeout | undefined;
  const forced = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), graceMs)));
  const outcome = await Promise.race([worker.close().then(() => "closed" as const), forced]);
  clearTimeout(timer);
  if (outcome === "closed") return "drained";
  onGraceOver?.();
  // A forced close still talks to Redis; during an outage it must not hold the exit forever.
  await Promise.race([worker.close(true), new Promise((r) => setTimeout(r, 2000).unref())]);
  return "forced";
}
