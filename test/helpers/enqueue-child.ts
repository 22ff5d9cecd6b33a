// A plain application process that uses the library once: `createEmailProducer`, one enqueue,
// close. Prints one JSON line: { ok, ms, error?: { name, message } }. Run as a child so that a
// test can see everything the library writes to stdout/stderr (nothing, on a Redis outage).
// Env: REDIS_URL, NOTIFY_PREFIX, ENQUEUE_TO.
import { createEmailProducer } from "../../src/index.ts";

const producer = createEmailProducer({ redis: process.env.REDIS_URL, prefix: process.env.NOTIFY_PREFIX });
const started = performance.now();
let line: Record<string, unknown>;
try {
  const { jobs } = await producer.enqueue({
    type: "alert", projectId: "library", to: [process.env.ENQUEUE_TO ?? "lib@example.com"], idempotencyKey: "enqueue-child",
    data: { alertId: "a1", title: "CPU high", state: "created", severity: "warning" },
  });
  line = { ok: true, ms: Math.round(performance.now() - started), jobs: jobs.length };
} catch (err) {
  line = { ok: false, ms: Math.round(performance.now() - started), error: { name: (err as Error).name, message: (err as Error).message } };
}
await producer.close();
process.stdout.write(`${JSON.stringify(line)}\n`);
