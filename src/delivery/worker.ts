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
    settings: {
      backoffStrategy: (attemptsMade, type, err) => (type === BACKOFF_TYPE ? retryDelay(attemptsMade, err, backoff) : 0),
    },
    ...options.bullmq,
  });
  // A worker must survive Redis hiccups; BullMQ reconnects by itself.
  worker.on("error", (err) => options.log.error({ err }, "worker error"));
  return worker;
}

/** Stops taking jobs and waits up to `graceMs` for in-flight ones, then forces the close. */
export async function closeWorker(worker: EmailWorker, graceMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const forced = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), graceMs)));
  const outcome = await Promise.race([worker.close().then(() => "closed" as const), forced]);
  clearTimeout(timer);
  if (outcome === "timeout") await worker.close(true);
}
