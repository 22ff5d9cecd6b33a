// One token fetch fails while 20 jobs wait on it (the token cache's single flight hands every
// waiter the same error). Each job's reason must be the same short text, written once:
// before the fix every job re-prefixed the shared error, and the last reason carried
// "[token] http_503:" 19 times.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHarness, enqueue, eventually, putConfig, type Harness } from "../helpers/harness.ts";
import { startTokenServer, type TestTokenServer } from "../helpers/token-server.ts";

let h: Harness;
let tokens: TestTokenServer;

before(async () => {
  // A pool of 20 connections, so that all 20 jobs of the untried mailbox go at once.
  h = await createHarness("shared-failure-reason", { env: { WORKER_CONCURRENCY: "20", JOB_ATTEMPTS: "1" }, delivery: { transport: { maxConnections: 20 } } });
  // Slow enough that all 20 jobs are waiting on the one request when it fails.
  tokens = await startTokenServer({ client: { id: "client-1", secret: "client-secret-value" }, delayMs: 500 });
  tokens.script.push({ status: 503, body: { error: "temporarily_unavailable" } });
});

after(async () => {
  await h?.close();
  await tokens?.close();
});

test("one failing token fetch shared by 20 waiting jobs: every reason is the same short text", async () => {
  await putConfig(h, "shared", {
    host: "localhost", port: 1, secure: true, fromEmail: "alerts@shared.example.com",
    auth: { type: "oauth", clientId: "client-1", clientSecret: "client-secret-value", tokenUrl: tokens.url, scope: "smtp" },
    // All 20 at once (the default of 10 connections would hold half of them back for later).
    limits: { maxConnections: 20 },
  });
  const ids = await enqueue(h, {
    type: "alert", projectId: "shared", to: Array.from({ length: 20 }, (_, i) => `w${i}@example.com`),
    data: { alertId: "a", title: "CPU", state: "created", severity: "high" },
  });
  const queue = h.services.producer.queue;
  const reasons = await eventually(async () => {
    const jobs = await Promise.all(ids.map((id) => queue.getJob(id)));
    const failed = jobs.filter((j) => j?.failedReason);
    return failed.length === ids.length ? failed.map((j) => j!.failedReason) : undefined;
  }, 20_000, "all 20 jobs to fail");
  assert.equal(tokens.requests.length, 1, "the 20 jobs shared one token request");
  assert.equal(new Set(reasons).size, 1, `reasons differ:\n${[...new Set(reasons)].join("\n")}`);
  const [reason] = reasons;
  assert.match(reason!, /^\[token\] http_503: /);
  assert.equal(reason!.split("[token]").length - 1, 1, reason);
  assert.ok(reason!.length < 300, `${reason!.length} characters: ${reason}`);
});
