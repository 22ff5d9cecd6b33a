// `npm run bench`: how close the product comes to what nodemailer alone can do.
//
// One SMTP sink process (bench/sink.ts: plain SMTP on loopback, PLAIN auth, bodies discarded)
// receives the same N emails (default 10,000) three times (bench/phases.ts):
//   ceiling            nodemailer, one pooled transport, sending straight to the sink with its own
//                      composer (from/to/subject/html/text): no queue, no Redis;
//   transport ceiling  the same transport sending messages pre-composed, before the clock starts,
//                      by the product's toMessage() (raw bytes + envelope): nodemailer's transport
//                      alone, no composing; shows how much of the gap is queue/worker overhead;
//   product            enqueued with the producer while the queue is paused, then delivered by ONE
//                      worker process (workers/email-worker.ts, NODE_ENV=production) with a
//                      password config (a loopback server: the default mailbox limits);
//   product, limits    the same with generous limits on the config that never bind (1000
//                      connections, 1,000,000/min, 1,000,000,000/day): the sending-limit gate's cost.
// All send identical content (rendered by src/templates) over the same pool settings (5
// connections, 1000 messages each). The target (0.8) is product / ceiling, as the issue defines
// it. Prints a table and writes bench/results.json (bench/report.ts).
//
// Environment: REDIS_URL (default redis://127.0.0.1:6379), BENCH_COUNT (default 10000),
// BENCH_CONCURRENCY (the worker's WORKER_CONCURRENCY, default 20), BENCH_CEILING_INFLIGHT
// (sendMail calls in flight for both ceilings, default 50), BENCH_WORKER_NODE_ARGS (extra node
// flags for the worker, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" to profile it).
//
// Everything lives under a fresh key prefix that is deleted at the end; child processes are
// killed whatever happens.
import { loadavg } from "node:os";
import type { Redis } from "ioredis";
import { connectRedis } from "../src/redis.ts";
import { CONCURRENCY, COUNT, REDIS_URL } from "./config.ts";
import { Sink, stopChild } from "./children.ts";
import { GENEROUS_LIMITS, runCeiling, runProduct, runTransportCeiling, type Cleanup } from "./phases.ts";
import { report } from "./report.ts";

async function deletePrefix(redis: Redis, prefix: string): Promise<number> {
  const pattern = `${prefix.replace(/[*?[\]\\]/g, "\\$&")}:*`;
  let cursor = "0";
  let deleted = 0;
  do {
    const [next, found] = await redis.scan(cursor, "MATCH", pattern, "COUNT", 1000);
    cursor = next;
    if (found.length > 0) deleted += await redis.del(...found);
  } while (cursor !== "0");
  return deleted;
}

async function main(): Promise<void> {
  const abort = new AbortController();
  const onSignal = () => abort.abort(new Error("interrupted"));
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);

  const redis = connectRedis(REDIS_URL, { connectionName: "notify-bench" });
  redis.on("error", () => {});
  let sink: Sink | undefined;
  const cleanup: Cleanup = { prefixes: [] };
  try {
    await redis.ping();
    const loadAtStart = loadavg()[0] ?? 0;
    sink = await Sink.start(abort);
    process.stdout.write(`bench: ${COUNT} emails, worker concurrency ${CONCURRENCY}, sink on 127.0.0.1:${sink.port}\n`);

    process.stdout.write("bench: ceiling (nodemailer → sink)…\n");
    const ceiling = await runCeiling(sink, redis, abort.signal);
    process.stdout.write("bench: transport ceiling (pre-composed by toMessage() → nodemailer transport → sink)…\n");
    const transportCeiling = await runTransportCeiling(sink, redis, abort.signal);
    process.stdout.write("bench: product (producer → Redis → worker → sink)…\n");
    const product = await runProduct(sink, redis, abort, cleanup);
    if (cleanup.worker) await stopChild(cleanup.worker, 5_000);
    await cleanup.producer?.close();
    process.stdout.write("bench: product with generous limits (the sending-limit gate on every send)…\n");
    const productWithLimits = await runProduct(sink, redis, abort, cleanup, GENEROUS_LIMITS);

    report({ ceiling, transportCeiling, product, productWithLimits, loadAtStart });
  } finally {
    if (cleanup.worker) await stopChild(cleanup.worker, 5_000);
    if (sink) await stopChild(sink.child, 5_000);
    await cleanup.producer?.close().catch(() => {});
    for (const prefix of cleanup.prefixes) {
      await deletePrefix(redis, prefix).catch((err: unknown) => process.stderr.write(`bench: could not delete keys under ${prefix}: ${(err as Error).message}\n`));
    }
    await redis.quit().catch(() => redis.disconnect());
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
