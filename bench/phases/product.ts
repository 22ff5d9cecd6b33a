// The product: producer → Redis → worker process(es) → sink. Emails are enqueued while the
// queue is paused, so delivery is timed on its own; workers are fresh for every phase and
// warmed up first (pools connected and authenticated, tokens fetched, JIT warm).
//   plain        password, plain SMTP, 1 worker: the figure the old bench had;
//   limits       the same with a per-mailbox limit that never binds (once src/mailbox/ exists);
//   tls          password over STARTTLS, 1 worker, and the same with 2 workers;
//   tls ×K       password over STARTTLS, K projects with a config each, 1 worker;
//   oauth ×K     XOAUTH2 over STARTTLS, K projects with an OAuth config each (their own client,
//                token endpoint answers with expires_in 60), 1 worker; token requests counted.
import { SIZES, recipients } from "../config.ts";
import { configBody, Deployment, type ConfigShape, type Context } from "../deployment.ts";
import { measure, type Throughput } from "../measure.ts";

export interface ProductPhase {
  shape: ConfigShape;
  workers: number;
  /** Projects (one config each) the emails are spread over. Default 1. */
  configs?: number;
}

export interface ProductResult extends Throughput {
  failedJobs: number;
  /** Token endpoint requests from the first warm-up email to the end of the phase. */
  tokenRequests: number;
  /** Seconds from the first warm-up email to the end (tokens refresh 22.5 s after their fetch). */
  spanSeconds: number;
}

/** The generous limit of the limits phase: never binds at bench rates. */
export const GENEROUS_LIMITS = { maxConnections: 50, messagesPerMinute: 600_000 };

/** Null when the config is refused (the limits phase before per-mailbox limits exist). */
export async function runProduct(ctx: Context, phase: ProductPhase): Promise<ProductResult | null> {
  const dep = new Deployment(ctx);
  try {
    const projects = Array.from({ length: phase.configs ?? 1 }, (_, i) => `bench-${i}`);
    for (const [i, project] of projects.entries()) {
      if (!(await dep.putConfig(project, configBody(ctx, phase.shape, i)))) return null;
    }
    const spanStart = performance.now();
    const tokensBefore = ctx.tokens.issued;
    const workers = dep.startWorkers(phase.workers).map((w) => w.child);

    // Enough warm-up for every worker and every project's pool.
    const warm = SIZES.warmup * phase.workers;
    const base = ctx.sink.count;
    await dep.enqueueSpread(projects, recipients("warm", warm), "bench-warmup", Math.max(1, Math.floor(warm / projects.length / 4)));
    await ctx.sink.waitFor(base + warm, ctx.abort.signal);

    await dep.producer.queue.pause();
    await dep.enqueueSpread(projects, recipients("user", SIZES.count), "bench-main");
    const result = await measure(ctx, workers, SIZES.count, () => dep.producer.queue.resume());
    const spanSeconds = (performance.now() - spanStart) / 1000;
    const tokenRequests = ctx.tokens.issued - tokensBefore;
    const failedJobs = await dep.failedJobs();
    await dep.stopWorkers();
    return { ...result, failedJobs, tokenRequests, spanSeconds };
  } finally {
    await dep.close();
  }
}
