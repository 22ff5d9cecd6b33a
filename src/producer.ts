// createEmailProducer: what application code uses to enqueue email. Validates, fans out one
// job per recipient, and adds them all in one round trip.
import type { Redis } from "ioredis";
import { connectRedis } from "./redis.ts";
import { createKeys } from "./keys.ts";
import { createEmailQueue, type EmailQueue, type JobDefaults } from "./queue.ts";
import { parseEmailRequest } from "./jobs/validate.ts";
import { jobIdFor } from "./jobs/job-id.ts";
import { jobName } from "./jobs/job-name.ts";
import { PRIORITY, type EmailJobData, type EmailRequest } from "./jobs/contracts.ts";

export interface EmailProducerOptions extends JobDefaults {
  /** A Redis URL (a connection is opened and closed with the producer) or an ioredis client (left open). */
  redis?: string | Redis;
  /** Key prefix; must match the workers'. Default `{notify}`. */
  prefix?: string;
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
  const connection =
    typeof options.redis === "object" ? options.redis : connectRedis(options.redis ?? "redis://127.0.0.1:6379", { connectionName: "notify-producer" });
  const queue = createEmailQueue(connection, createKeys(options.prefix ?? "{notify}"), options);

  return {
    queue,
    async enqueue(input) {
      const request = parseEmailRequest(input);
      const jobs = toJobs(request, Date.now());
      await queue.addBulk(jobs.map((job) => ({ name: jobName(job.data), data: job.data, opts: { jobId: job.id, priority: PRIORITY[job.data.type] } })));
      return { jobs: jobs.map(({ id, data }) => ({ id, to: data.to })) };
    },
    async close() {
      await queue.close();
      if (ownsConnection) await connection.quit().catch(() => connection.disconnect());
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
