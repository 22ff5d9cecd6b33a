// Killing the worker right after a 250 and before completion does not send that email a
// second time. A child process (test/helpers/crash-worker.ts) sends the message, writes the 250
// marker and SIGKILLs itself before BullMQ completes the job; the job stalls, another worker
// (in this process, started only after the crash) recovers it, finds the marker and completes
// it without sending again.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHarness, eventually, type Harness, passwordConfig, putConfig } from "../helpers/harness.ts";
import { startTestSmtpServer, type TestSmtpServer } from "../helpers/smtp-server.ts";
import { testCerts } from "../helpers/certs.ts";
import { startDelivery, type Delivery } from "../../src/delivery/start.ts";
import {
  CRASH_MESSAGE, CRASH_WORKER_SCRIPT, childWorkerEnv, startChildWorker, writeTestCaFile, type CaFile, type ChildWorker,
} from "../helpers/child-worker.ts";

const PROJECT = "crash";
/** Short locks so a dead worker's job is seen as stalled within a couple of seconds. */
const BULLMQ_TIMINGS = { lockDuration: 1000, stalledInterval: 500 };

let h: Harness;
let smtp: TestSmtpServer;
let ca: CaFile;
let crasher: ChildWorker | undefined;
let recovery: Delivery | undefined;

before(async () => {
  h = await createHarness("crash-after-250", { worker: false });
  smtp = await startTestSmtpServer({ password: { user: "mailer", pass: "s3cret-pass" } });
  ca = writeTestCaFile();
  await putConfig(h, PROJECT, passwordConfig(smtp.port, "mailer", "s3cret-pass"));
});

after(async () => {
  await crasher?.kill("SIGKILL");
  await recovery?.stop();
  await h?.close();
  await smtp?.close();
  ca?.remove();
});

test("killing the worker right after a 250 and before completion does not send that email a second time", async () => {
  crasher = await startChildWorker({
    name: "crash-worker",
    script: CRASH_WORKER_SCRIPT,
    env: childWorkerEnv(h.childEnv, ca.path, {
      CRASH_WORKER_LOCK_MS: String(BULLMQ_TIMINGS.lockDuration),
      CRASH_WORKER_STALLED_MS: String(BULLMQ_TIMINGS.stalledInterval),
    }),
  }, 60_000);

  const res = await h.app.inject({
    method: "POST",
    url: "/v1/emails",
    headers: h.auth,
    payload: { type: "incident", projectId: PROJECT, to: ["once@example.com"], data: { incidentId: "7", title: "Only once", state: "created", severity: "critical" } },
  });
  assert.equal(res.statusCode, 202, res.body);
  const [job] = (res.json() as { jobs: { id: string; to: string }[] }).jobs;
  assert.ok(job);

  // The crash worker sends, gets its 250, writes the marker and dies by SIGKILL.
  const exit = await crasher.waitForExit(60_000);
  assert.deepEqual(exit, { code: null, signal: "SIGKILL" }, crasher.describe());
  const crashLine = crasher.logs().find((l) => l.msg === CRASH_MESSAGE);
  assert.ok(crashLine, crasher.describe());
  assert.equal(crashLine.jobId, job.id);

  assert.equal(smtp.received.length, 1);
  const [mail] = smtp.received;
  assert.deepEqual(mail!.to, ["once@example.com"]);
  // The death left the job unfinished, with the marker in Redis.
  const queue = h.services.producer.queue;
  assert.equal(await queue.getJobState(job.id), "active");
  const marker = await h.services.redis.get(h.services.keys.sent(job.id));
  assert.ok(marker, "the 250 marker was written before the kill");
  assert.equal((JSON.parse(marker) as { messageId: string }).messageId, mail!.mail.messageId);

  // Another worker starts; it finds the job stalled (lock expired), runs it again and must not
  // send it a second time.
  recovery = await startDelivery(h.services, h.settings, h.log, {
    transport: { ca: testCerts().ca },
    bullmq: BULLMQ_TIMINGS,
    closeGraceMs: 5000,
  });

  const completed = await eventually(async () => {
    const j = await queue.getJob(job.id);
    if (!j) return undefined;
    const state = await j.getState();
    if (state === "failed") throw new Error(`job failed: ${j.failedReason}`);
    return state === "completed" ? j : undefined;
  }, 60_000, "the recovered job to complete");
  assert.ok(completed.returnvalue, "a completed job keeps its result");
  assert.equal(completed.returnvalue.deduplicated, true);
  assert.equal(completed.returnvalue.messageId, mail!.mail.messageId);
  assert.match(completed.returnvalue.response, /^250/);
  assert.ok(completed.attemptsStarted >= 2, `attemptsStarted ${completed.attemptsStarted}`);

  const view = await h.app.inject({ method: "GET", url: `/v1/jobs/${job.id}`, headers: h.auth });
  const body = view.json() as { state: string; result?: { messageId: string; response: string } };
  assert.equal(body.state, "completed");
  assert.equal(body.result?.messageId, mail!.mail.messageId);
  assert.ok(h.logs.some((l) => l.includes("not sending again") && l.includes(job.id)), "the recovering worker says why it did not send");

  // Still one email, even after giving any stray retry time to happen.
  await new Promise((r) => setTimeout(r, 2000));
  assert.equal(smtp.received.length, 1, "the email must not be sent a second time");
  assert.equal(smtp.dataStarted, 1);
});
