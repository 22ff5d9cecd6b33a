// Two replicas whose pools together want more connections than the mailbox allows (2 × 3
// against maxConnections 4, as 3 replicas × the default 5 against the default 10 would): once
// a replica holds all the slots it can get, its further sends queue on its own connections
// instead of putting their jobs in Redis's line for a slot. Found by the benchmark: two
// workers of 6 connections on a mailbox of 10 delivered 951 emails/s, where one worker of 5
// delivered 2,000/s: every send beyond a worker's share asked for a slot, was refused, and
// its job went to delayed and back.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHarness, enqueue, putConfig, waitForJobState, type Harness } from "../helpers/harness.ts";
import { startMailboxSmtp, type MailboxSmtp } from "../helpers/peers/mailbox-smtp.ts";
import { startDelivery, type Delivery } from "../../src/delivery/start.ts";
import { createMetrics, type Metrics } from "../../src/metrics.ts";
import { testCerts } from "../helpers/certs.ts";

let h: Harness;
let smtp: MailboxSmtp;
const replicas: { delivery: Delivery; metrics: Metrics }[] = [];

before(async () => {
  h = await createHarness("mailbox-share", { worker: false, env: { WORKER_CONCURRENCY: "8" } });
  smtp = await startMailboxSmtp({ users: { u: "pw" }, dataDelayMs: 5 });
  for (let i = 0; i < 2; i++) {
    const metrics = createMetrics();
    const delivery = await startDelivery(h.services, h.settings, h.log.child({ replica: i }), {
      observer: metrics.delivery,
      transport: { ca: testCerts().ca, maxConnections: 3 },
      closeGraceMs: 5000,
    });
    replicas.push({ delivery, metrics });
  }
});

after(async () => {
  for (const { delivery } of replicas) await delivery.stop();
  await h?.close();
  await smtp?.close();
});

async function slotWaits(metrics: Metrics): Promise<number> {
  const text = await metrics.registry.metrics();
  return Number(/^notify_job_waits_total\{reason="rate_limit"\} (\d+)/m.exec(text)?.[1] ?? 0);
}

test("2 replicas × 3 connections on a mailbox of 4: at most 4 sessions, each email once, (almost) no job waits for a slot", { timeout: 90_000 }, async (t) => {
  const projectId = "share";
  await putConfig(h, projectId, { host: "localhost", port: smtp.port, secure: true, fromEmail: "status@acme.test", auth: { type: "password", username: "u", password: "pw" }, limits: { maxConnections: 4 } });
  const data = { alertId: "1", title: "t", state: "created", severity: "high" };
  // Until one send has worked, a mailbox gets one send per connection (see mailbox-pool.test.ts).
  const [first] = await enqueue(h, { type: "alert", projectId, to: ["first@example.com"], data });
  await waitForJobState(h, first!, ["completed"], 10_000);
  const before = (await Promise.all(replicas.map((r) => slotWaits(r.metrics)))).reduce((a, b) => a + b, 0);
  const to = Array.from({ length: 300 }, (_, i) => `share-${i}@example.com`);
  const ids = await enqueue(h, { type: "alert", projectId, to, data });
  const started = Date.now();
  for (const id of ids) {
    // One attempt each: no message sat in a connection that waited for a slot until it timed out.
    const job = await waitForJobState(h, id, ["completed"], 60_000);
    assert.equal(job.attempts, 1, `job ${id} took ${job.attempts} attempts`);
  }
  const seconds = (Date.now() - started) / 1000;
  assert.equal(smtp.accepted.length, 301);
  assert.equal(new Set(smtp.accepted.flatMap((a) => a.to)).size, 301, "each email once");
  assert.ok(smtp.maxConnections <= 4, `the server saw ${smtp.maxConnections} connections at once`);
  const waits = (await Promise.all(replicas.map((r) => slotWaits(r.metrics)))).reduce((a, b) => a + b, 0) - before;
  // Both replicas sent: neither was starved by the other holding the mailbox.
  const byReplica = await Promise.all(replicas.map(async (r) => Number(/^notify_emails_sent_total\{type="alert"\} (\d+)/m.exec(await r.metrics.registry.metrics())?.[1] ?? 0)));
  t.diagnostic(`most sessions at once: ${smtp.maxConnections}; slot waits: ${waits}; sent per replica: ${byReplica.join(", ")}; ${seconds.toFixed(1)} s`);
  assert.equal(h.logs.filter((l) => l.includes("timed out waiting for a connection slot")).length, 0);
  assert.ok(byReplica.every((n) => n > 0), `sent per replica: ${byReplica.join(", ")}`);
  // The code before sent 291 of the 300 to delayed here. A job whose turn in its replica's line
  // is more than 200 ms away still waits in Redis (a slow mailbox must not hold a worker's job
  // slots), which a loaded machine makes happen now and then.
  assert.ok(waits < 30, `${waits} jobs went to delayed to wait for a slot`);
});
