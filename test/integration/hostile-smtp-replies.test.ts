// SMTP servers that answer in hostile ways: replies of 180,000 spaces or a megabyte, endless
// `250-` continuation lines, a byte every few hundred milliseconds, no greeting at all, and
// replies that echo our credentials back. For test-send and the pooled worker: the event loop
// never stalls 100 ms and /healthz stays under 200 ms, each send ends within SEND_TIMEOUT_MS
// with the right stage and code, and what the server said reaches nobody longer than 1 KB or
// with our password in it (responses, job reasons, logs, Redis).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { createHarness, enqueue, putConfig, waitForJobState, type Harness } from "../helpers/harness.ts";
import { echoAuth, echoLogin, startHostileSmtp, type HostileSmtpOptions, type HostileSmtpServer } from "../helpers/peers/smtp.ts";
import { startTestSmtpServer, type TestSmtpServer } from "../helpers/smtp-server.ts";
import { assertLively, watchLiveness } from "../helpers/liveness.ts";
import { dumpPrefix } from "../helpers/redis-dump.ts";

const SEND_TIMEOUT_MS = 4000;
const USER = "mailer";
const PASS = `reply-pass-${randomBytes(6).toString("hex")}`;
const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64").replace(/=+$/, "");
/** The password in every form it crosses the wire: none may come back to anyone. */
const SECRETS = [PASS, b64(PASS), b64(`\u0000${USER}\u0000${PASS}`)];

let h: Harness;
let healthy: TestSmtpServer;
const peers: HostileSmtpServer[] = [];
const bodies: string[] = [];

before(async () => {
  h = await createHarness("hostile-replies", { env: { SEND_TIMEOUT_MS: String(SEND_TIMEOUT_MS), JOB_ATTEMPTS: "2" } });
  healthy = await startTestSmtpServer({ password: { user: USER, pass: PASS } });
});

after(async () => {
  await h.close();
  await healthy.close();
  for (const p of peers) await p.close();
});

async function peer(options: HostileSmtpOptions): Promise<HostileSmtpServer> {
  const p = await startHostileSmtp(options);
  peers.push(p);
  return p;
}

function config(p: { port: number }, tls = false): Record<string, unknown> {
  return {
    host: tls ? "localhost" : "127.0.0.1", port: p.port, secure: tls, ...(tls ? {} : { allowInsecureAuth: true }),
    fromEmail: "status@acme.test", auth: { type: "password", username: USER, password: PASS },
  };
}

interface Outcome {
  ok: boolean;
  stage?: string;
  code?: string;
  message?: string;
  response?: string;
  timingsMs: Record<string, number>;
}

/** PUT the config, then POST …/test; the answer, timed. */
async function tryPeer(projectId: string, cfg: Record<string, unknown>): Promise<{ status: number; body: Outcome; ms: number }> {
  await putConfig(h, projectId, cfg);
  const started = performance.now();
  const res = await h.app.inject({ method: "POST", url: `/v1/projects/${projectId}/smtp-config/test`, headers: h.auth, payload: { to: "ops@example.com" } });
  bodies.push(res.body);
  return { status: res.statusCode, body: res.json() as Outcome, ms: performance.now() - started };
}

async function sendJob(projectId: string): Promise<string> {
  const [id] = await enqueue(h, { type: "alert", projectId, to: ["ops@example.com"], data: { alertId: "a1", title: "CPU high", state: "created", severity: "warning" } });
  return id!;
}

async function jobBody(id: string): Promise<string> {
  const res = await h.app.inject({ method: "GET", url: `/v1/jobs/${id}`, headers: h.auth });
  bodies.push(res.body);
  return res.body;
}

const LONG_REPLIES = [
  // Under the reply cap: this one froze the event loop for 3.4 s before (a quadratic regex).
  { name: "550 and 60,000 spaces at MAIL", script: { MAIL: { do: "reply", text: `550 ${" ".repeat(60_000)}x` } }, stage: "send", code: "550" },
  // Over it: nodemailer drops the connection before anything parses the reply.
  { name: "550 and 180,000 spaces at MAIL", script: { MAIL: { do: "reply", text: `550 ${" ".repeat(180_000)}x` } }, stage: "send", code: "EPROTOCOL" },
  { name: "550 and 60,000 CR/LF-free spaces then a newline storm at RCPT", script: { RCPT: { do: "reply", text: `550 5.1.1 ${" ".repeat(60_000)}${" \r\n550-".repeat(2000)}\r\n550 end` } }, stage: "send", code: "550" },
  { name: "a one-line 1 MB reply at RCPT (over the reply cap)", script: { RCPT: { do: "reply", text: `550 ${"a".repeat(1024 * 1024)}` } }, stage: "send", code: "EPROTOCOL" },
  { name: "a 1 MB EHLO of continuation lines", script: { EHLO: { do: "reply", text: `${"250-AUTH PLAIN\r\n".repeat(70_000)}250 OK` } }, stage: "connect", code: "EPROTOCOL" },
] as const;

for (const { name, script, stage, code } of LONG_REPLIES) {
  test(`test-send and a job against ${name}: linear, capped at 1 KB, ${stage} / ${code}`, async () => {
    const p = await peer({ script });
    const projectId = `long-${LONG_REPLIES.findIndex((r) => r.name === name)}`;
    const live = watchLiveness(h.app);
    const { status, body } = await tryPeer(projectId, config(p));
    const id = await sendJob(projectId);
    const job = await waitForJobState(h, id, ["failed"], 20_000);
    assertLively(await live.stop(), name);
    assert.equal(status, 422, JSON.stringify(body).slice(0, 500));
    assert.deepEqual([body.stage, body.code], [stage, code], JSON.stringify(body).slice(0, 500));
    assert.ok((body.message ?? "").length <= 1024, `message of ${body.message?.length} characters`);
    assert.ok(!/[\x00-\x1f\x7f]/.test(body.message ?? ""), "no control characters");
    assert.ok((job.failedReason ?? "").startsWith(`[${stage === "send" && code === "EPROTOCOL" ? "connect" : stage}] ${code}: `), job.failedReason?.slice(0, 200));
    assert.ok((job.failedReason ?? "").length < 1024 + 400, `failedReason of ${job.failedReason?.length} characters`);
  });
}

test("endless `250-` EHLO continuation lines: test-send answers connect / send_timeout at SEND_TIMEOUT_MS and the connection is closed", async () => {
  const p = await peer({ script: { EHLO: { do: "stream", line: "250-STILL-THINKING", everyMs: 200 } } });
  const live = watchLiveness(h.app);
  const { status, body, ms } = await tryPeer("endless-ehlo", config(p));
  assertLively(await live.stop(), "endless EHLO");
  assert.equal(status, 422, JSON.stringify(body));
  assert.deepEqual([body.stage, body.code], ["connect", "send_timeout"], JSON.stringify(body));
  assert.match(body.message ?? "", /SEND_TIMEOUT_MS/);
  assert.ok(ms >= SEND_TIMEOUT_MS - 50 && ms < SEND_TIMEOUT_MS + 1500, `answered after ${Math.round(ms)} ms`);
  await p.waitForClosed(1, 2000);
});

test("a 250 dripped one byte every 300 ms after the message: test-send answers send / send_timeout at SEND_TIMEOUT_MS", async () => {
  const p = await peer({ script: { MESSAGE: { do: "drip", text: "250 2.0.0 queued as 0123456789ABCDEF", everyMs: 300 } } });
  const live = watchLiveness(h.app);
  const { status, body, ms } = await tryPeer("drip-data", config(p));
  assertLively(await live.stop(), "dripped reply");
  assert.deepEqual([status, body.stage, body.code], [422, "send", "send_timeout"], JSON.stringify(body));
  assert.ok(ms < SEND_TIMEOUT_MS + 1500, `answered after ${Math.round(ms)} ms`);
  await p.waitForClosed(1, 2000);
});

test("a server that never greets: test-send answers connect / ETIMEDOUT after the greeting timeout", async () => {
  const p = await peer({ script: { greeting: { do: "silence" } } });
  const live = watchLiveness(h.app);
  const { status, body, ms } = await tryPeer("never-greet", config(p));
  assertLively(await live.stop(), "never greets");
  assert.deepEqual([status, body.stage, body.code], [422, "connect", "ETIMEDOUT"], JSON.stringify(body));
  assert.ok(ms < SEND_TIMEOUT_MS + 1500, `answered after ${Math.round(ms)} ms`);
});

test("the pooled worker: stalled jobs fail at SEND_TIMEOUT_MS (connect for endless EHLO, send for a dripped 250) while another project's email goes out", async () => {
  const ehlo = await peer({ script: { EHLO: { do: "stream", line: "250-STILL-THINKING", everyMs: 200 } } });
  const drip = await peer({ script: { MESSAGE: { do: "drip", text: "250 2.0.0 queued as 0123456789ABCDEF", everyMs: 300 } } });
  await putConfig(h, "pool-ehlo", config(ehlo));
  await putConfig(h, "pool-drip", config(drip));
  await putConfig(h, "pool-healthy", config(healthy, true));
  const live = watchLiveness(h.app);
  const started = performance.now();
  const stuck = [await sendJob("pool-ehlo"), await sendJob("pool-drip")];
  await new Promise((r) => setTimeout(r, 300));
  const good = await waitForJobState(h, await sendJob("pool-healthy"), ["completed"], 3000);
  assert.ok(performance.now() - started < SEND_TIMEOUT_MS, "the healthy project's email went out while the others were stuck");
  assert.match(good.result?.response ?? "", /^250/);
  const [a, b] = await Promise.all(stuck.map((id) => waitForJobState(h, id, ["failed"], 4 * SEND_TIMEOUT_MS)));
  assertLively(await live.stop(), "stalled pooled sends");
  assert.match(a!.failedReason ?? "", /^\[connect\] send_timeout: .*SEND_TIMEOUT_MS/);
  assert.match(b!.failedReason ?? "", /^\[send\] send_timeout: .*SEND_TIMEOUT_MS/);
  assert.equal(a!.attempts, 2, "transient: retried once");
  const elapsed = performance.now() - started;
  assert.ok(elapsed < 2 * SEND_TIMEOUT_MS + 4000, `two attempts each, took ${Math.round(elapsed)} ms`);
  // Each attempt's stuck connection was closed by the deadline, not left open.
  await ehlo.waitForClosed(2, 3000);
  await drip.waitForClosed(2, 3000);
  assert.equal(ehlo.open + drip.open, 0);
});

test("a 535 that echoes AUTH PLAIN, AUTH LOGIN (plaintext and over STARTTLS): the password is masked in the answer and the job's reason", async () => {
  const plain = await peer({ script: { AUTH: echoAuth } });
  const login = await peer({ authMethods: ["LOGIN"], script: { AUTH: echoLogin() } });
  const tls = await peer({ starttls: true, script: { AUTH: echoAuth } });
  const live = watchLiveness(h.app);
  for (const [name, p, secure] of [["plain", plain, false], ["login", login, false], ["tls", tls, true]] as const) {
    const { status, body } = await tryPeer(`echo-${name}`, config(p, secure));
    assert.deepEqual([status, body.stage, body.code], [422, "auth", "535"], JSON.stringify(body));
    assert.match(body.message ?? "", /\[redacted\]/, `${name}: the echo is there, masked: ${body.message}`);
    const sent = p.sessions.at(-1)!.commands.join("\n");
    assert.ok(sent.includes(name === "login" ? b64(PASS) : b64(`\u0000${USER}\u0000${PASS}`)), `${name}: the server did get the credentials`);
    const job = await waitForJobState(h, await sendJob(`echo-${name}`), ["failed"], 15_000);
    assert.match(job.failedReason ?? "", /^\[auth\] 535: .*\[redacted\]/, job.failedReason);
  }
  assertLively(await live.stop(), "echoing servers");
});

test("a 250 that echoes the password: masked in the test-send answer and in the job's stored result", async () => {
  const p = await peer({ script: { MESSAGE: { do: "reply", text: `250 2.0.0 queued, thanks ${USER}:${PASS}` } } });
  const { status, body } = await tryPeer("echo-250", config(p));
  assert.equal(status, 200, JSON.stringify(body));
  assert.equal(body.response, `250 2.0.0 queued, thanks ${USER}:[redacted]`);
  const job = await waitForJobState(h, await sendJob("echo-250"), ["completed"], 10_000);
  assert.equal(job.result?.response, `250 2.0.0 queued, thanks ${USER}:[redacted]`);
  await jobBody(job.id);
});

test("nothing anyone can see holds the password in any form: API answers, job views, logs, every Redis value", async () => {
  assert.ok(bodies.length >= 10, `${bodies.length} answers`);
  const leaks = (where: string, text: string) => SECRETS.filter((s) => text.includes(s)).map((s) => `${where}: ${s}`);
  const redis = await dumpPrefix(h.services.redis, h.settings.prefix);
  assert.ok(redis.keys.length > 10, "the dump read the jobs and configs");
  assert.deepEqual([...leaks("answers", bodies.join("\n")), ...leaks("logs", h.logs.join("\n")), ...leaks("redis", redis.text)], []);
  assert.ok(redis.text.includes("[redacted]"), "the masked echoes are what was stored");
});
