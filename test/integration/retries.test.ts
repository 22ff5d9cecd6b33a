// Retry policy end to end: transient failures (4xx replies, refused connections) come back with
// backoff and are delivered once the server cooperates; permanent ones (5xx, no config) fail at
// once with a reason that names the stage and says what to do.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHarness, eventually, getJob, waitForJobState, type Harness, enqueue } from "../helpers/harness.ts";
import { freePort, startTestSmtpServer, type TestSmtpServer } from "../helpers/smtp-server.ts";

const USER = "mailer";
const PASS = "retry-pass";

let h: Harness;
let smtp: TestSmtpServer;
const extraServers: TestSmtpServer[] = [];

async function putConfig(projectId: string, port: number): Promise<void> {
  const res = await h.app.inject({
    method: "PUT",
    url: `/v1/projects/${projectId}/smtp-config`,
    headers: h.auth,
    payload: { host: "localhost", port, secure: true, fromEmail: "status@acme.test", auth: { type: "password", username: USER, password: PASS } },
  });
  assert.equal(res.statusCode, 200, res.body);
}

/** Enqueues one incident to one recipient and returns its job id. */
async function enqueueOne(projectId: string, to: string): Promise<string> {
  const ids = await enqueue(h, { type: "incident", projectId, to: [to], data: { incidentId: "7", title: "Disk full", state: "created", severity: "major" } });
  assert.equal(ids.length, 1);
  return ids[0]!;
}

const receivedBy = (server: TestSmtpServer, to: string) => server.received.filter((m) => m.to.includes(to));

before(async () => {
  h = await createHarness("retries");
  smtp = await startTestSmtpServer({ password: { user: USER, pass: PASS } });
  await putConfig("p-retry", smtp.port);
});

after(async () => {
  await h.close();
  await smtp.close();
  await Promise.all(extraServers.map((s) => s.close()));
});

test("a 451 at DATA is retried with backoff and then delivered exactly once", async () => {
  smtp.script.push({ at: "DATA", code: 451, message: "4.3.0 try again later" });
  const id = await enqueueOne("p-retry", "451-data@example.com");

  const job = await waitForJobState(h, id, ["completed"]);
  assert.equal(smtp.script.length, 0, "the scripted 451 was used");
  assert.equal(job.attempts, 2, "one refused attempt, one accepted");
  assert.match(job.result?.response ?? "", /^250/);
  assert.equal(receivedBy(smtp, "451-data@example.com").length, 1);
});

test("a 451 at RCPT is retried and then delivered", async () => {
  smtp.script.push({ at: "RCPT", code: 451, message: "4.3.0 greylisted, try again later" });
  const id = await enqueueOne("p-retry", "451-rcpt@example.com");

  const job = await waitForJobState(h, id, ["completed"]);
  assert.equal(smtp.script.length, 0);
  assert.ok(job.attempts >= 2, `attempts ${job.attempts}`);
  assert.equal(receivedBy(smtp, "451-rcpt@example.com").length, 1);
});

test("a 550 at RCPT fails at once after one attempt, with stage, code and hint", async () => {
  smtp.script.push({ at: "RCPT", code: 550, message: "5.1.1 no such user" });
  const id = await enqueueOne("p-retry", "nobody@example.com");

  const job = await waitForJobState(h, id, ["failed"]);
  assert.equal(smtp.script.length, 0);
  assert.equal(job.attempts, 1, "a permanent failure is not retried");
  assert.ok(job.failedReason, "the reason is kept on the job");
  assert.match(job.failedReason, /^\[send\] 550: /);
  assert.match(job.failedReason, /5\.1\.1 no such user/);
  assert.match(job.failedReason, /Hint: the server refused the recipient/);
  assert.equal(job.result, undefined);
  assert.equal(receivedBy(smtp, "nobody@example.com").length, 0);
});

test("a refused connection is retried until a server listens on that port, then delivered", async () => {
  const port = await freePort();
  await putConfig("p-refused", port);
  const id = await enqueueOne("p-refused", "refused@example.com");

  const retrying = await eventually(async () => {
    const job = await getJob(h, id);
    return job.attempts >= 1 && job.failedReason ? job : undefined;
  }, 10_000, "a first failed attempt");
  assert.ok(["delayed", "waiting", "prioritized", "active"].includes(retrying.state), `state ${retrying.state}: still going to be retried`);
  assert.match(retrying.failedReason ?? "", /^\[connect\] ECONNREFUSED/);
  assert.match(retrying.failedReason ?? "", /Hint: nothing accepts connections/);

  const late = await startTestSmtpServer({ password: { user: USER, pass: PASS }, port });
  extraServers.push(late);
  assert.equal(late.port, port);

  const job = await waitForJobState(h, id, ["completed"], 20_000);
  assert.ok(job.attempts >= 2, `attempts ${job.attempts}`);
  assert.equal(receivedBy(late, "refused@example.com").length, 1);
  assert.equal(late.received[0]?.user, USER);
});

test("a project with no config and no DEFAULT_SMTP_URL fails at once with no_smtp_config", async () => {
  const id = await enqueueOne("p-unconfigured", "lost@example.com");

  const job = await waitForJobState(h, id, ["failed"]);
  assert.equal(job.attempts, 1);
  assert.match(job.failedReason ?? "", /^\[config\] no_smtp_config: /);
  assert.match(job.failedReason ?? "", /p-unconfigured/);
  assert.match(job.failedReason ?? "", /Hint: PUT \/v1\/projects\/:projectId\/smtp-config, or set DEFAULT_SMTP_URL/);
  assert.equal(receivedBy(smtp, "lost@example.com").length, 0);
});

test(
  "GET /v1/jobs/:id never shows a failed job without its attempt and reason",
  async () => {
    const torn: string[] = [];
    for (let i = 0; i < 30; i++) {
      const id = await enqueueOne("p-unconfigured", `torn-${i}@example.com`);
      // Poll as fast as the route answers, so the read straddles the failure if it can.
      const first = await eventually(async () => {
        const job = await getJob(h, id);
        return job.state === "failed" ? job : undefined;
      }, 10_000, `job ${id} to fail`);
      if (first.attempts !== 1 || !first.failedReason) torn.push(JSON.stringify(first));
    }
    assert.equal(torn.length, 0, `${torn.length} of 30 answers showed "failed" with the fields from before the failure, e.g. ${torn[0]}`);
  },
);

test("a malformed job added straight to the queue fails once with the reason instead of retrying", async () => {
  const queue = h.services.producer.queue;
  const bad = { type: "incident", projectId: "p-unconfigured", to: "not-an-address", data: { incidentId: "1" }, enqueuedAt: Date.now() };
  const job = await queue.add("incident", bad as unknown as Parameters<typeof queue.add>[1], { jobId: "malformed-1" });
  const failed = await waitForJobState(h, job.id!, ["failed"]);
  assert.equal(failed.attempts, 1);
  assert.match(failed.failedReason ?? "", /^\[config\] invalid_job_data: .*to must be an email address.*data\.title is required/);
});
