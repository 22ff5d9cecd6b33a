// Real worker processes (`npm run worker` = workers/email-worker.ts) sharing one queue: every
// job is delivered exactly once across them, and SIGTERM lets an in-flight send finish (its job
// completes) before the process exits 0. The test process only runs the API/producer.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHarness, eventually, type Harness, passwordConfig, putConfig } from "../helpers/harness.ts";
import { startTestSmtpServer, type TestSmtpServer } from "../helpers/smtp-server.ts";
import { childWorkerEnv, startChildWorker, writeTestCaFile, type CaFile, type ChildWorker } from "../helpers/child-worker.ts";

const PROJECT = "multi";
let h: Harness;
let smtp: TestSmtpServer;
let ca: CaFile;
const children: ChildWorker[] = [];

before(async () => {
  h = await createHarness("worker-processes", { worker: false });
  smtp = await startTestSmtpServer({ password: { user: "mailer", pass: "s3cret-pass" } });
  ca = writeTestCaFile();
  await putConfig(h, PROJECT, passwordConfig(smtp.port, "mailer", "s3cret-pass"));
});

after(async () => {
  // Children first, whatever happened: nothing may keep running against the prefix.
  await Promise.all(children.map((c) => c.kill("SIGKILL")));
  await h?.close();
  await smtp?.close();
  ca?.remove();
});

async function spawnWorker(name: string, extraEnv: Record<string, string> = {}): Promise<ChildWorker> {
  const child = await startChildWorker({ name, env: childWorkerEnv(h.childEnv, ca.path, extraEnv) }, 60_000);
  children.push(child);
  return child;
}

async function enqueue(to: string[], title: string): Promise<{ id: string; to: string }[]> {
  const res = await h.app.inject({
    method: "POST",
    url: "/v1/emails",
    headers: h.auth,
    payload: { type: "incident", projectId: PROJECT, to, data: { incidentId: title, title, state: "created", severity: "major" } },
  });
  assert.equal(res.statusCode, 202, res.body);
  return (res.json() as { jobs: { id: string; to: string }[] }).jobs;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("two worker processes on one queue deliver each of 200 jobs exactly once, and both take a share", async (t) => {
  // Each child logs `"sent"` (info) with the jobId: that is how we know which process delivered
  // what (nothing in the job or the email says so). Debug adds context when a run fails.
  const [a, b] = await Promise.all([spawnWorker("worker-a", { LOG_LEVEL: "debug" }), spawnWorker("worker-b", { LOG_LEVEL: "debug" })]);
  assert.ok(a && b);
  assert.notEqual(a.pid, b.pid);
  // A few ms per message keeps both processes busy instead of letting one drain the queue.
  smtp.dataDelayMs = 10;

  const recipients = Array.from({ length: 200 }, (_, i) => `user${String(i).padStart(3, "0")}@example.com`);
  const jobs = [...(await enqueue(recipients.slice(0, 100), "batch-1")), ...(await enqueue(recipients.slice(100), "batch-2"))];
  assert.equal(jobs.length, 200);
  assert.equal(new Set(jobs.map((j) => j.id)).size, 200);

  await smtp.waitForCount(200, 90_000);
  await sleep(1000);
  smtp.dataDelayMs = 0;
  assert.equal(smtp.received.length, 200, "no email may arrive twice");
  const arrived = smtp.received.flatMap((r) => r.to);
  assert.equal(arrived.length, 200);
  assert.deepEqual(new Set(arrived), new Set(recipients));
  for (const r of smtp.received) assert.equal(r.user, "mailer");

  // Every job completed (completion trails the 250 by a Redis round trip).
  const queue = h.services.producer.queue;
  await eventually(async () => {
    const states = await Promise.all(jobs.map((j) => queue.getJobState(j.id)));
    return states.every((s) => s === "completed") ? true : undefined;
  }, 30_000, "all 200 jobs to be completed");

  // Which process sent which job: the union is every job, the intersection is empty, and each
  // process sent some. (stdout lines reach us asynchronously, hence the wait for the union.)
  const sentBy = (c: ChildWorker) => new Set(c.logs().filter((l) => l.msg === "sent" && typeof l.jobId === "string").map((l) => l.jobId as string));
  await eventually(() => (sentBy(a).size + sentBy(b).size >= 200 ? true : undefined), 15_000, "both children's sent lines");
  const byA = sentBy(a);
  const byB = sentBy(b);
  assert.equal([...byA].filter((id) => byB.has(id)).length, 0, "a job was sent by both processes");
  assert.deepEqual(new Set([...byA, ...byB]), new Set(jobs.map((j) => j.id)));
  assert.ok(byA.size > 0, `worker-a sent nothing (worker-b sent ${byB.size})`);
  assert.ok(byB.size > 0, `worker-b sent nothing (worker-a sent ${byA.size})`);
  // Both really were separate, live processes the whole time, and each logged its own pid.
  assert.equal(a.exit, undefined, a.describe());
  assert.equal(b.exit, undefined, b.describe());
  assert.ok(a.logs().some((l) => l.msg === "sent" && l.pid === a.pid));
  assert.ok(b.logs().some((l) => l.msg === "sent" && l.pid === b.pid));
  // Warnings are reported, not asserted: a transient one (e.g. a slow socket) would not make
  // delivery wrong, and the exactly-once checks above are what matter.
  const warnings = [a, b].flatMap((c) => c.logs().filter((l) => typeof l.level === "number" && l.level >= 40).map((l) => `${c.name}: ${l.msg}`));
  t.diagnostic(`worker-a sent ${byA.size}, worker-b sent ${byB.size}${warnings.length ? `; warnings: ${warnings.join(" | ")}` : ""}`);

  // Idle workers stop cleanly on SIGTERM.
  a.signal("SIGTERM");
  b.signal("SIGTERM");
  assert.deepEqual(await a.waitForExit(30_000), { code: 0, signal: null }, a.describe());
  assert.deepEqual(await b.waitForExit(30_000), { code: 0, signal: null }, b.describe());
});

test("SIGTERM with a send in flight: the worker lets it finish, the job completes, the process exits 0", async () => {
  const worker = await spawnWorker("worker-sigterm");
  // Long enough that the send is certainly still waiting for its 250 when SIGTERM lands.
  smtp.dataDelayMs = 2500;
  const before = smtp.received.length;
  const startedBefore = smtp.dataStarted;

  const [job] = await enqueue(["inflight@example.com"], "in-flight");
  assert.ok(job);
  // The message body has reached the server, which is sitting on its 250 for 2.5 s.
  await eventually(() => (smtp.dataStarted > startedBefore ? true : undefined), 30_000, "the message to be in flight");
  assert.equal(smtp.received.length, before, "the 250 must not have gone out yet");
  assert.equal(await h.services.producer.queue.getJobState(job.id), "active");

  worker.signal("SIGTERM");
  const exit = await worker.waitForExit(30_000);
  assert.deepEqual(exit, { code: 0, signal: null }, worker.describe());
  smtp.dataDelayMs = 0;

  // Delivered once, and the job was completed by the exiting process (no worker is left to do it).
  const delivered = smtp.received.slice(before);
  assert.equal(delivered.length, 1, "the in-flight email was delivered exactly once");
  assert.deepEqual(delivered[0]!.to, ["inflight@example.com"]);
  const stored = await h.services.producer.queue.getJob(job.id);
  assert.ok(stored);
  assert.equal(await stored.getState(), "completed", worker.describe());
  assert.equal(stored.returnvalue?.messageId, delivered[0]!.mail.messageId);
  const view = await h.app.inject({ method: "GET", url: `/v1/jobs/${job.id}`, headers: h.auth });
  const body = view.json() as { state: string; result?: { messageId: string; response: string } };
  assert.equal(body.state, "completed");
  assert.match(body.result?.response ?? "", /^250/);

  const messages = worker.logs().map((l) => l.msg);
  assert.ok(messages.includes("shutting down"), worker.describe());
  assert.ok(messages.includes("stopped"), worker.describe());
});
