// The one BullMQ queue and the options every email job gets.
import { Queue, type JobsOptions } from "bullmq";
import type { Redis } from "ioredis";
import { QUEUE_NAME, type Keys } from "./keys.ts";
import type { EmailJobData, SendResult } from "./jobs/contracts.ts";

export type EmailQueue = Queue<EmailJobData, SendResult>;

/** The name of our custom backoff strategy (see delivery/backoff.ts). */
export const BACKOFF_TYPE = "notify";

export interface JobDefaults {
  /** Delivery attempts per job. Default 8. */
  attempts?: number;
  /** Keep completed jobs this long: it is also the idempotency window. Default 24 h. */
  keepCompletedSeconds?: number;
  /** Keep failed jobs for inspection and retry in the board. Default 7 days. */
  keepFailedSeconds?: number;
}

export function defaultJobOptions(defaults: JobDefaults = {}): JobsOptions {
  return {
    attempts: defaults.attempts ?? 8,
    backoff: { type: BACKOFF_TYPE },
    removeOnComplete: { age: defaults.keepCompletedSeconds ?? 86_400 },
    removeOnFail: { age: defaults.keepFailedSeconds ?? 7 * 86_400 },
  };
}

export function createEmailQueue(connection: Redis, keys: Keys, defaults: JobDefaults = {}): EmailQueue {
  const queue = new Queue<EmailJobData, SendResult>(QUEUE_NAME, {
    connection,
    prefix: keys.bullPrefix,
    defaultJobOptions: defaultJobOptions(defaults),
  });
  // The connection's own outage reporting (redis/health.ts) covers these; without a listener
  // BullMQ would print each one with its stack to stderr.
  queue.on("error", () => {});
  return queue;
}
