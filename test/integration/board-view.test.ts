// What an operator sees about a job in Bull Board (through its JSON API, which the UI renders),
// in GET /v1/jobs and in `notify-smtp jobs list`: a name with type, project and recipient domain
// (never the address), a failure reason once and without the error class, and for a delayed job
// when it runs next and why it waits (backoff, or what `job.data.waitingFor` says).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import { createHarness, enqueue, eventually, passwordConfig, putConfig, waitForJobState, type Harness } from "../helpers/harness.ts";
import { startTestSmtpServer, type TestSmtpServer } from "../helpers/smtp-server.ts";
import { runCli } from "../helpers/cli.ts";
import { jobName } from "../../src/jobs/job-name.ts";
import { withoutErrorClass } from "../../src/http/board-view.ts";

const BACKOFF_MS = 600_000;
let h: Harness;
let smtp: TestSmtpServer;

before(async () => {
  // Retries wait minutes, so a job that failed once sits in "delayed" for the whole test.
  h = await createHarness("board-view", { env: { JOB_BACKOFF_MS: String(BACKOFF_MS), JOB_BACKOFF_MAX_MS: String(BACKOFF_MS) } });
  smtp = await startTestSmtpServer({ password: { user: "mailer", pass: "board-pass" } });
  await putConfig(h, "acme", passwordConfig(smtp.port, "mailer", "board-pass"));
});

after(async () => {
  await h?.close();
  await smtp?.close();
});

interface BoardJob {
  id: string;
  name: string;
  timestamp: number;
  delay: number;
  opts: { delay?: number };
  failedReason?: string;
  stacktrace: string[];
}

async function boardJobs(status: string): Promise<BoardJob[]> {
  const queue = h.services.producer.queue.name;
  const res = await h.app.inject({ method: "GET", url: `/admin/queues/api/queues?activeQueue=${queue}&status=${status}&jobsPerPage=50`, headers: h.auth });
  assert.equal(res.statusCode, 200, res.body);
  const queues = (res.json() as { queues: { name: string; jobs: BoardJob[] }[] }).queues;
  return queues.find((q) => q.name === queue)?.jobs ?? [];
}

async function boardJob(id: string): Promise<BoardJob> {
  const queue = h.services.producer.queue.name;
  const res = await h.app.inject({ method: "GET", url: `/admin/queues/api/queues/${queue}/${id}`, headers: h.auth });
  assert.equal(res.statusCode, 200, res.body);
  return (res.json() as { job: BoardJob }).job;
}

const incident = { incidentId: "7", title: "Checkout down", state: "created", severity: "critical" };

test("job names: type · project · @domain, lower-cased, without the local part", () => {
  assert.equal(jobName({ type: "incident", projectId: "acme", to: "On.Call@Example.COM" }), "incident · acme · @example.com");
  assert.equal(jobName({ type: "alert", projectId: "p", to: "no-at-sign" }), "alert · p");
  assert.equal(withoutErrorClass("UnrecoverableError: [send] 550: no"), "[send] 550: no");
  assert.equal(withoutErrorClass("DeliveryError: [connect] timeout"), "[connect] timeout");
  assert.equal(withoutErrorClass("[send] 550: Error: inside"), "[send] 550: Error: inside");
});

test("a failed job: named by type, project and domain; its reason once, without the class prefix", async () => {
  smtp.script.push({ at: "RCPT", code: 550, message: "5.1.1 no such user" });
  const [id] = await enqueue(h, { type: "incident", projectId: "acme", to: ["gone@customer.example"], data: incident });
  await waitForJobState(h, id!, ["failed"]);
  // BullMQ itself stored the class-prefixed stack entry the board would have repeated.
  const stored = await h.services.producer.queue.getJob(id!);
  assert.match(stored?.stacktrace?.[0] ?? "", /^UnrecoverableError: \[send\] 550/);
  assert.equal(stored?.name, "incident · acme · @customer.example", "the producer names the job");

  for (const job of [(await boardJobs("failed")).find((j) => j.id === id), await boardJob(id!)]) {
    assert.ok(job, "listed");
    assert.equal(job.name, "incident · acme · @customer.example");
    assert.match(job.failedReason ?? "", /^\[send\] 550: .*no such user/);
    assert.deepEqual(job.stacktrace, [], "the reason is shown once (the Error tab falls back to failedReason)");
    assert.ok(!JSON.stringify(job.name).includes("gone@"), "no full address in the name");
  }
});

test("a job waiting for a retry: the board shows its real run time and 'backoff'; the API and CLI too", async () => {
  smtp.script.push({ at: "RCPT", code: 451, message: "4.7.1 try again later" });
  const [id] = await enqueue(h, { type: "incident", projectId: "acme", to: ["later@customer.example"], data: incident });
  const queue = h.services.producer.queue;
  await eventually(async () => ((await queue.getJobState(id!)) === "delayed" ? true : undefined), 15_000, "the job to be delayed");
  const score = await h.services.redis.zscore(queue.toKey("delayed"), id!);
  const runAt = Math.floor(Number(score) / 0x1000);
  // Equal jitter: between half and all of the backoff, from about now.
  assert.ok(runAt > Date.now() + BACKOFF_MS / 2 - 60_000 && runAt < Date.now() + BACKOFF_MS + 1000, `runAt ${new Date(runAt).toISOString()}`);

  const job = (await boardJobs("delayed")).find((j) => j.id === id);
  assert.ok(job, "listed as delayed");
  assert.equal(job.name, "incident · acme · @customer.example · waiting: backoff");
  // The UI shows "will run at" timestamp + opts.delay, and "Delay changed… unknown" when delay differs.
  assert.equal(job.delay, job.opts.delay);
  assert.equal(job.timestamp + job.delay, runAt);

  const res = await h.app.inject({ method: "GET", url: "/v1/jobs?state=delayed", headers: h.auth });
  const listed = (res.json() as { jobs: { id: string; runAt: string | null; waitingFor: string | null }[] }).jobs.find((j) => j.id === id);
  assert.deepEqual(listed && { runAt: listed.runAt, waitingFor: listed.waitingFor }, { runAt: new Date(runAt).toISOString(), waitingFor: "backoff" });
  const one = await h.app.inject({ method: "GET", url: `/v1/jobs/${id}`, headers: h.auth });
  assert.equal((one.json() as { waitingFor?: string }).waitingFor, "backoff");

  await h.app.listen({ port: 0, host: "127.0.0.1" });
  const env = { NOTIFY_API_URL: `http://127.0.0.1:${(h.app.server.address() as AddressInfo).port}`, NOTIFY_ADMIN_TOKEN: h.settings.adminToken };
  const cli = await runCli(["jobs", "list", "--state", "delayed"], { env });
  assert.equal(cli.code, 0, cli.stderr);
  const lines = cli.stdout.trimEnd().split("\n");
  assert.match(lines[0]!, /^ID +TYPE +PROJECT +TO +ATTEMPTS +RUNS AT +WAITING FOR$/);
  const shownAt = `${new Date(runAt).toISOString().slice(0, 19).replace("T", " ")}Z`;
  assert.ok(lines.some((l) => l.startsWith(id!) && l.includes(shownAt) && l.endsWith("backoff")), cli.stdout);

  const waiting = await runCli(["jobs", "list", "--state", "active"], { env });
  assert.equal(waiting.code, 0, waiting.stderr);
  assert.equal(waiting.stdout, "no active jobs\n");
  const bad = await runCli(["jobs", "list", "--state", "later"], { env });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--state must be one of failed, delayed, waiting, active, completed/);
});

test("a job delayed by something else shows that reason and time (job.data.waitingFor / waitingUntil)", async () => {
  const queue = h.services.producer.queue;
  const until = Date.now() + 90_000;
  // What a rate limiter would leave on a job it puts back: the reason and the time in its data.
  await queue.add("incident", { type: "incident", projectId: "acme", to: "x@throttled.example", data: incident, enqueuedAt: Date.now(), waitingFor: "rate limit", waitingUntil: until } as never, { jobId: "board-view-rate-limited", delay: 120_000 });
  const job = (await boardJobs("delayed")).find((j) => j.id === "board-view-rate-limited");
  assert.ok(job);
  assert.equal(job.name, "incident · acme · @throttled.example · waiting: rate limit");
  assert.equal(job.timestamp + job.delay, until);
  const res = await h.app.inject({ method: "GET", url: "/v1/jobs?state=delayed", headers: h.auth });
  const listed = (res.json() as { jobs: { id: string; runAt: string; waitingFor: string }[] }).jobs.find((j) => j.id === "board-view-rate-limited");
  assert.deepEqual(listed && [listed.runAt, listed.waitingFor], [new Date(until).toISOString(), "rate limit"]);
});
