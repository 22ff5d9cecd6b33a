// Sending limits as an operator sees them from one process: the metrics (waits by reason,
// throttle events, the breaker gauge, no address in any label), and BREAKER_MAX_WAIT_MS=0
// (the test default): after 5 refused logins the breaker opens and the next job fails with
// the same reason without trying the server.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHarness, enqueue, eventually, getJob, putConfig, waitForJobState, type Harness } from "../helpers/harness.ts";
import { startMailboxSmtp, type MailboxSmtp } from "../helpers/peers/mailbox-smtp.ts";

let h: Harness;
const servers: MailboxSmtp[] = [];

before(async () => {
  h = await createHarness("mailbox-metrics");
});

after(async () => {
  await h?.close();
  await Promise.all(servers.map((s) => s.close()));
});

async function server(options: Parameters<typeof startMailboxSmtp>[0]): Promise<MailboxSmtp> {
  const s = await startMailboxSmtp(options);
  servers.push(s);
  return s;
}

const config = (port: number, user: string, limits: Record<string, number>) => ({
  host: "localhost", port, secure: true, fromEmail: "status@acme.test", auth: { type: "password", username: user, password: "pw" }, limits,
});

const send = (projectId: string, n: number) =>
  enqueue(h, { type: "alert", projectId, to: Array.from({ length: n }, (_, i) => `${projectId}-${i}@example.com`), data: { alertId: "1", title: "t", state: "created", severity: "high" } });

async function metrics(): Promise<string> {
  const res = await h.app.inject({ method: "GET", url: "/metrics" });
  return res.body;
}

test("waits by reason and throttle events are counted; every job still completes", async () => {
  const spaced = await server({ users: { r: "pw" } });
  const throttled = await server({ users: { t: "pw" }, throttleUntil: Date.now() + 600 });
  await putConfig(h, "spaced", config(spaced.port, "r", { messagesPerMinute: 600 }));
  await putConfig(h, "throttled", config(throttled.port, "t", { maxConnections: 2 }));
  const ids = [...(await send("spaced", 3)), ...(await send("throttled", 2))];
  for (const id of ids) await waitForJobState(h, id, ["completed"], 20_000);
  const body = await metrics();
  assert.match(body, /^notify_job_waits_total\{reason="rate_limit"\} [1-9]/m);
  assert.match(body, /^notify_job_waits_total\{reason="throttled"\} [1-9]/m);
  assert.match(body, /^notify_throttle_events_total\{code="421"\} [1-9]/m);
});

test("BREAKER_MAX_WAIT_MS=0: 5 refused logins open the breaker (gauge 1), and the next job fails with the same reason without trying", async () => {
  const smtp = await server({ users: {}, refuseAuth: { legacy: { code: 535, message: "5.7.139 Authentication unsuccessful, basic authentication is disabled." } } });
  await putConfig(h, "legacy", config(smtp.port, "legacy", { maxConnections: 1 }));
  const ids = await send("legacy", 6);
  const failed = await Promise.all(ids.map((id) => waitForJobState(h, id, ["failed"], 20_000)));
  for (const job of failed) {
    assert.match(job.failedReason ?? "", /^\[auth\] 535: 5\.7\.139 .*Hint: SMTP AUTH is disabled.*OAuth over SMTP/);
    assert.equal(job.attempts, 1);
  }
  assert.equal(smtp.authAttempts, 5, "the sixth job did not try the server");
  const body = await eventually(async () => {
    const text = await metrics();
    return /^notify_breaker_open\{mailbox="[A-Za-z0-9_-]{22}"\} 1$/m.test(text) ? text : undefined;
  }, 5000, "the breaker gauge");
  const labels = body.split("\n").filter((l) => l.startsWith("notify_breaker_open{"));
  assert.ok(labels.every((l) => !/@|localhost|legacy/.test(l)), labels.join("\n"));
  const res = await h.app.inject({ method: "GET", url: "/v1/projects/legacy/smtp-config", headers: h.auth });
  assert.equal((res.json() as { health: { state: string } }).health.state, "open");
  assert.equal((await getJob(h, ids[5]!)).state, "failed");
});
