// createEmailProducer: what application code uses to enqueue email. Validates, fans out one
// job per recipient, and adds them all in one round trip.
import type { Cluster, Redis } from "ioredis";
import { closeConnection, connectRedis, RedisUnavailableError } from "./redis.ts";
import { isConnectionError } from "./redis/health.ts";
import { ReplicaAckError, ReplicaAcks } from "./redis/replica-ack.ts";
import { createKeys } from "./keys.ts";
import { createEmailQueue, type EmailQueue, type JobDefaults } from "./queue.ts";
import { parseEmailRequest } from "./jobs/validate.ts";
import { jobIdFor } from "./jobs/job-id.ts";
import { jobName } from "./jobs/job-name.ts";
import { PRIORITY, type EmailJobData, type EmailRequest } from "./jobs/contracts.ts";

export interface EmailProducerOptions extends JobDefaults {
  /**
   * A Redis URL, any form REDIS_URL takes (a connection is opened and closed with the
   * producer), or an ioredis client or Cluster (left open). Default `redis://127.0.0.1:6379`.
   */
  redis?: string | Redis | Cluster;
  /** Key prefix; must match the workers'. Default `{notify}`. */
  prefix?: string;
  /**
   * How long `enqueue` waits for Redis before it rejects with `RedisUnavailableError`.
   * Default 4000 ms, so that an HTTP caller gets its 503 within 5 s.
   */
  timeoutMs?: number;
  /**
   * REDIS_WAIT_REPLICAS: `enqueue` resolves only once this many replicas have the jobs
   * (Redis WAIT), and rejects with `RedisUnavailableError` when fewer confirm within
   * `waitTimeoutMs`. Default 0 (resolve when the master has them).
   */
  waitReplicas?: number;
  /** How long one WAIT may block. Default 1000 ms (inside `timeoutMs`). */
  waitTimeoutMs?: number;
}

export interface EnqueuedJob {
  id: string;
  to: string;
}

export interface EmailProducer {
  /** Validates and enqueues; throws `ValidationError` (with `details`) and enqueues nothing on bad input. */
  enqueue(request: unknown): Promise<{ jobs: EnqueuedJob[] }>;
  readonly queue: EmailQueue;
  close(): Promise<void>;
}

export function createEmailProducer(options: EmailProducerOptions = {}): EmailProducer {
  const ownsConnection = typeof options.redis !== "object";
  // A Cluster has the same command interface as a Redis (see redis/connect.ts).
  const connection =
    typeof options.redis === "object" ? (options.redis as Redis) : connectRedis(options.redis ?? "redis://127.0.0.1:6379", { connectionName: "notify-producer" });
  const keys = createKeys(options.prefix ?? "{notify}");
  const queue = createEmailQueue(connection, keys, options);
  const acks = new ReplicaAcks(connection, { replicas: options.waitReplicas ?? 0, timeoutMs: options.waitTimeoutMs });

  return {
    queue,
    async enqueue(input) {
      const request = parseEmailRequest(input);
      const jobs = toJobs(request, Date.now());
      const adding = queue
        .addBulk(jobs.map((job) => ({ name: jobName(job.data), data: job.data, opts: { jobId: job.id, priority: PRIORITY[job.data.type] } })))
        // Every key of the deployment is in one slot: any of them names the master that took the write.
        .then(() => (acks.enabled ? acks.confirm(acks.mark(keys.smtpConfigs)) : undefined));
      await withinDeadline(adding, options.timeoutMs ?? 4000);
      return { jobs: jobs.map(({ id, data }) => ({ id, to: data.to })) };
    },
    async close() {
      // Bounded: closing while Redis is away must not hang the application's own shutdown.
      await Promise.race([queue.close().catch(() => undefined), new Promise((r) => setTimeout(r, 2000).unref())]);
      if (ownsConnection) await closeConnection(connection);
    },
  };
}

/** One job per distinct recipient (addresses compared case-insensitively). */
function toJobs(request: EmailRequest, now: number): { id: string; data: EmailJobData }[] {
  const seen = new Set<string>();
  const jobs: { id: string; data: EmailJobData }[] = [];
  for (const to of request.to) {
    const key = to.toLowerCase();
    if (seen.has(key)) continue;
    seen.add(key);
    const data = { type: request.type, projectId: request.projectId, to, data: request.data, enqueuedAt: now } as EmailJobData;
    jobs.push({ id: jobIdFor(request.projectId, request.type, to, request.idempotencyKey), data });
  }
  return jobs;
}

/**
 * Redis answers, or the caller hears within `ms` that it did not. A timed-out add may still
 * land once Redis is back: enqueue again with the same idempotencyKey and it is the same job.
 */
async function withinDeadline(adding: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new RedisUnavailableError(`Redis did not answer within ${ms} ms; the email may not be enqueued (retry with the same idempotencyKey)`)), ms);
  });
  try {
    await Promise.race([adding, late]);
  } catch (err) {
    if (err instanceof RedisUnavailableError) {
      adding.catch(() => {});
      throw err;
    }
    if (err instanceof ReplicaAckError) {
      throw new RedisUnavailableError(`the email is not on enough Redis replicas yet (${err.message}); it may be lost in a failover, so it is not acknowledged: retry with the same idempotencyKey`);
    }
    if (isConnectionError(err)) throw new RedisUnavailableError(`Redis is not reachable: ${(err as Error).message}`);
    throw err;
  } finally {
    clearTimeout(timer);
  }
}
