// A backlog: SIZES.backlog incident jobs enqueued while the queue is paused (the enqueue
// rate: requests of 1000 recipients, ENQUEUE_INFLIGHT at a time, as an API under load sends
// them), Redis memory per waiting job (INFO used_memory before/after, on the bench's own
// redis-server), then one worker drains it over plain SMTP while its resident set is sampled.
import { SIZES, recipients, round, sleep } from "../config.ts";
import { configBody, Deployment, type Context } from "../deployment.ts";
import { procMemoryMb } from "../cpu.ts";
import { usedMemory } from "../redis-server.ts";
import { MAX_RECIPIENTS } from "../../src/jobs/contracts.ts";

/** Enqueue requests in flight at once. */
export const ENQUEUE_INFLIGHT = 4;

export interface BacklogResult {
  jobs: number;
  enqueuePerSecond: number;
  redisBytesPerJob: number;
  /** What a completed job keeps in Redis (removeOnComplete: 24 h, the idempotency window). */
  redisBytesPerCompletedJob: number;
  drainPerSecond: number;
  /** VmHWM at the end: the worker's peak resident set over its whole life. */
  workerPeakRssMb: number | null;
  /** Largest VmRSS sampled every 100 ms while draining. */
  workerDrainRssMaxMb: number | null;
  failedJobs: number;
}

export async function runBacklog(ctx: Context): Promise<BacklogResult> {
  const dep = new Deployment(ctx);
  try {
    await dep.putConfig("backlog", configBody(ctx, { tls: false, auth: "password" }, 0));
    const [worker] = dep.startWorkers(1);
    const pid = worker!.child.pid!;
    const warmBase = ctx.sink.count;
    await dep.enqueue("backlog", "incident", recipients("warm", SIZES.warmup), "warm");
    await ctx.sink.waitFor(warmBase + SIZES.warmup, ctx.abort.signal);
    await dep.producer.queue.pause();

    const to = recipients("backlog", SIZES.backlog);
    const requests: string[][] = [];
    for (let i = 0; i < to.length; i += MAX_RECIPIENTS) requests.push(to.slice(i, i + MAX_RECIPIENTS));
    const memoryBefore = await usedMemory(ctx.redis.client);
    const enqueueStarted = performance.now();
    let next = 0;
    const lane = async () => {
      while (next < requests.length) await dep.enqueue("backlog", "incident", requests[next++]!, "backlog");
    };
    await Promise.all(Array.from({ length: ENQUEUE_INFLIGHT }, lane));
    const enqueueSeconds = (performance.now() - enqueueStarted) / 1000;
    const memoryWaiting = await usedMemory(ctx.redis.client);

    let drainRssMax = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        drainRssMax = Math.max(drainRssMax, procMemoryMb(pid, "VmRSS") ?? 0);
        await sleep(100);
      }
    })();
    const drainBase = ctx.sink.count;
    const drainStarted = performance.now();
    await dep.producer.queue.resume();
    const drained = await ctx.sink.waitFor(drainBase + SIZES.backlog, ctx.abort.signal);
    sampling = false;
    await sampler;
    const workerPeakRssMb = procMemoryMb(pid, "VmHWM");
    // Let the last completions land before looking at memory.
    await sleep(500);
    const memoryCompleted = await usedMemory(ctx.redis.client);
    const failedJobs = await dep.failedJobs();
    await dep.stopWorkers();
    return {
      jobs: SIZES.backlog,
      enqueuePerSecond: round(SIZES.backlog / enqueueSeconds, 1),
      redisBytesPerJob: round((memoryWaiting - memoryBefore) / SIZES.backlog, 1),
      redisBytesPerCompletedJob: round((memoryCompleted - memoryBefore) / SIZES.backlog, 1),
      drainPerSecond: round(SIZES.backlog / ((drained - drainStarted) / 1000), 1),
      workerPeakRssMb: workerPeakRssMb === null ? null : round(workerPeakRssMb, 1),
      workerDrainRssMaxMb: drainRssMax > 0 ? round(drainRssMax, 1) : null,
      failedJobs,
    };
  } finally {
    await dep.close();
  }
}
