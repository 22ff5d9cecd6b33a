// Idempotency (same key + recipient → same job, one email) and the life of a project's SMTP
// config: an edit reaches the workers by pub/sub and is used by the next send, secrets are
// redacted on the way out and kept when a PUT leaves them out, and DELETE falls back to the
// default server.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHarness, eventually, waitForJobState, type Harness } from "../helpers/harness.ts";
import { startTestSmtpServer, type TestSmtpServer } from "../helpers/smtp-server.ts";

let h: Harness;
let serverA: TestSmtpServer;
let serverB: TestSmtpServer;
let defaultServer: TestSmtpServer;

const configA = { host: "localhost", port: 0, secure: true, fromEmail: "a@acme.test", auth: { type: "password", username: "user-a", password: "pass-a" } };
const configB = { host: "localhost", port: 0, secure: true, fromEmail: "b@acme.test", auth: { type: "password", username: "user-b", password: "pass-b" } };

before(async () => {
  serverA = await startTestSmtpServer({ password: { user: "user-a", pass: "pass-a" } });
  serverB = await startTestSmtpServer({ password: { user: "user-b", pass: "pass-b" } });
  defaultServer = await startTestSmtpServer({ tls: true });
  configA.port = serverA.port;
  configB.port = serverB.port;
  h = await createHarness("idem-config", {
    env: { DEFAULT_SMTP_URL: `smtp://localhost:${defaultServer.port}`, DEFAULT_FROM: "Default <default@notify.test>" },
  });
});

after(async () => {
  await h.close();
  await Promise.all([serverA, serverB, defaultServer].map((s) => s.close()));
});

async function putConfig(projectId: string, body: object) {
  const res = await h.app.inject({ method: "PUT", url: `/v1/projects/${projectId}/smtp-config`, headers: h.auth, payload: body });
  assert.equal(res.statusCode, 200, res.body);
  return res.json() as { port: number; fromName?: string; auth: { username: string; password: string } };
}

async function send(projectId: string, to: string[], idempotencyKey?: string): Promise<string[]> {
  const res = await h.app.inject({
    method: "POST",
    url: "/v1/emails",
    headers: h.auth,
    payload: { type: "alert", projectId, to, ...(idempotencyKey ? { idempotencyKey } : {}), data: { alertId: "9", title: "CPU high", state: "created", severity: "warning" } },
  });
  assert.equal(res.statusCode, 202, res.body);
  return (res.json() as { jobs: { id: string }[] }).jobs.map((j) => j.id);
}

/** Every job in the queue, whatever its state, for one recipient (case-insensitive). */
async function jobsFor(to: string) {
  const jobs = await h.services.producer.queue.getJobs(["active", "completed", "delayed", "failed", "prioritized", "waiting", "waiting-children"]);
  return jobs.filter((j) => j.data.to.toLowerCase() === to.toLowerCase());
}

const mailTo = (server: TestSmtpServer, to: string) => server.received.filter((m) => m.to.some((r) => r.toLowerCase() === to.toLowerCase()));

/** Waits until the worker's config resolver sees the change (it arrives by pub/sub). */
function propagated(projectId: string, check: (port: number, fromName: string | undefined, source: string) => boolean) {
  return eventually(async () => {
    const resolved = await h.delivery!.resolver.resolve(projectId);
    return resolved && check(resolved.config.port, resolved.config.fromName, resolved.source) ? true : undefined;
  }, 3_000, `the config change of ${projectId} to reach the worker`);
}

test("the same idempotencyKey + recipient enqueued twice is one job and one email", async () => {
  await putConfig("p-idem", configA);
  const [first] = await send("p-idem", ["dup@x.test"], "alert-9-created");
  const [second] = await send("p-idem", ["DUP@x.test"], "alert-9-created");
  assert.ok(first);
  assert.equal(second, first, "same key, same recipient (any case) → same job id");

  const done = await waitForJobState(h, first, ["completed"]);
  const finishedOn = (await h.services.producer.queue.getJob(first))?.finishedOn;
  assert.ok(finishedOn);
  // Enqueued again after it completed: still the same job, not run again.
  const [third] = await send("p-idem", ["dup@x.test"], "alert-9-created");
  assert.equal(third, first);
  // A later email of the same priority completes only after a re-queued duplicate would have started.
  const [sentinel] = await send("p-idem", ["sentinel@x.test"]);
  await waitForJobState(h, sentinel!, ["completed"]);

  assert.equal(mailTo(serverA, "dup@x.test").length, 1, "one email");
  const jobs = await jobsFor("dup@x.test");
  assert.deepEqual(jobs.map((j) => j.id), [first], "one job in the queue");
  assert.equal(await jobs[0]!.getState(), "completed");
  assert.equal(jobs[0]!.finishedOn, finishedOn, "the completed job was not processed again");
  assert.equal(jobs[0]!.attemptsMade, done.attempts);

  const [otherRecipient] = await send("p-idem", ["other@x.test"], "alert-9-created");
  const [otherProject] = await send("p-idem2", ["dup@x.test"], "alert-9-created");
  assert.notEqual(otherRecipient, first, "the key is scoped to the recipient");
  assert.notEqual(otherProject, first, "the key is scoped to the project");
});

test("duplicate recipients in one request (any case) become one job and one email", async () => {
  const ids = await send("p-idem", ["twice@x.test", "TWICE@x.test", "twice@x.test"]);
  assert.equal(ids.length, 1);
  await waitForJobState(h, ids[0]!, ["completed"]);
  assert.equal((await jobsFor("twice@x.test")).length, 1);
  assert.equal(mailTo(serverA, "twice@x.test").length, 1);
});

test("a config change is used by the next send; GET redacts; an omitted password is kept", async () => {
  await putConfig("p-switch", configA);
  const [viaA] = await send("p-switch", ["switch-1@x.test"]);
  await waitForJobState(h, viaA!, ["completed"]);
  assert.equal(mailTo(serverA, "switch-1@x.test")[0]?.user, "user-a");

  const saved = await putConfig("p-switch", configB);
  assert.equal(saved.port, serverB.port);
  assert.equal(saved.auth.password, "[redacted]");
  await propagated("p-switch", (port) => port === serverB.port);
  const [viaB] = await send("p-switch", ["switch-2@x.test"]);
  await waitForJobState(h, viaB!, ["completed"]);
  assert.equal(mailTo(serverB, "switch-2@x.test")[0]?.user, "user-b");
  assert.equal(mailTo(serverA, "switch-2@x.test").length, 0, "the old server is not used after the change");

  const got = await h.app.inject({ method: "GET", url: "/v1/projects/p-switch/smtp-config", headers: h.auth });
  assert.equal(got.statusCode, 200, got.body);
  // The effective limits (a localhost server: the default 10 connections) and the breaker's health come along.
  assert.deepEqual(got.json(), {
    ...configB, auth: { ...configB.auth, password: "[redacted]" },
    limits: { maxConnections: 10 }, limitsSource: "default", health: { state: "closed", since: null, lastError: null },
  });
  assert.ok(!got.body.includes("pass-b"));

  // The password left out: the stored one stays.
  const { password: _omitted, ...authWithoutPassword } = configB.auth;
  const kept = await putConfig("p-switch", { ...configB, fromName: "Omitted", auth: authWithoutPassword });
  assert.equal(kept.auth.password, "[redacted]");
  await propagated("p-switch", (_port, fromName) => fromName === "Omitted");
  const [afterOmit] = await send("p-switch", ["switch-3@x.test"]);
  await waitForJobState(h, afterOmit!, ["completed"]);
  assert.equal(mailTo(serverB, "switch-3@x.test")[0]?.mail.from?.value[0]?.name, "Omitted");

  // What GET returned, sent back edited (password "[redacted]"): the stored one stays too.
  await putConfig("p-switch", { ...(got.json() as object), fromName: "Echoed" });
  await propagated("p-switch", (_port, fromName) => fromName === "Echoed");
  const [afterEcho] = await send("p-switch", ["switch-4@x.test"]);
  await waitForJobState(h, afterEcho!, ["completed"]);
  const echoed = mailTo(serverB, "switch-4@x.test")[0];
  assert.equal(echoed?.user, "user-b");
  assert.equal(echoed?.mail.from?.value[0]?.name, "Echoed");
  assert.deepEqual(serverB.authAttempts.filter((a) => !a.ok), [], "every login to B used the real password");
});

test("DELETE → 204, then GET → 404, and the next email goes to the default server over STARTTLS", async () => {
  await putConfig("p-delete", configA);
  const del = await h.app.inject({ method: "DELETE", url: "/v1/projects/p-delete/smtp-config", headers: h.auth });
  assert.equal(del.statusCode, 204, del.body);
  assert.equal(del.body, "");
  const get = await h.app.inject({ method: "GET", url: "/v1/projects/p-delete/smtp-config", headers: h.auth });
  assert.equal(get.statusCode, 404, get.body);
  assert.equal((get.json() as { error: { code: string } }).error.code, "not_found");
  const again = await h.app.inject({ method: "DELETE", url: "/v1/projects/p-delete/smtp-config", headers: h.auth });
  assert.equal(again.statusCode, 404, again.body);

  await propagated("p-delete", (_port, _name, source) => source === "default");
  const [id] = await send("p-delete", ["fallback@x.test"]);
  await waitForJobState(h, id!, ["completed"]);
  const mail = mailTo(defaultServer, "fallback@x.test")[0];
  assert.ok(mail, "the default server received it");
  assert.equal(mail.secure, true, "STARTTLS was used, the certificate verified against the test CA");
  assert.equal(mail.user, undefined, "the default server needs no login");
  assert.equal(mail.mail.from?.value[0]?.address, "default@notify.test");
  assert.equal(mail.mail.from?.value[0]?.name, "Default");
  assert.equal(mailTo(serverA, "fallback@x.test").length, 0);
});
