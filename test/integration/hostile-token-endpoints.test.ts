// A project's token endpoint is outside our control (contract, "Isolation"). Against endpoints
// that echo our request, return 60 KB of escapes, stream forever, drip bytes, never answer,
// claim odd lifetimes or throttle (test/helpers/peers/token.ts), through both the test-send
// route and the worker:
// - the process stays responsive (/healthz under 200 ms while a peer misbehaves);
// - the answer names stage "token" and the right code, within the request deadline;
// - every field that carries peer text is bounded (≤ 1 KB of it) and free of control characters;
// - the client secret, the basic credentials and the JWT assertion appear nowhere: API answers,
//   job reasons, captured logs, every Redis value under the prefix;
// - a lifetime of 1e308 is capped, cached and reused; a refused Redis write is logged, not silent.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { createHarness, eventually, getJob, waitForJobState, type Harness, enqueue } from "../helpers/harness.ts";
import { startTestSmtpServer, type TestSmtpServer } from "../helpers/smtp-server.ts";
import { ESCAPES, startHostileTokenPeer, type HostileTokenPeer } from "../helpers/peers/token.ts";
import { dumpPrefix } from "../helpers/redis-dump.ts";
import { MAX_TOKEN_LIFETIME_S, secretForms } from "../../src/oauth/token-answer.ts";

const hex = randomBytes(6).toString("hex");
/** Characters that form-encoding changes, so an echoed body carries a different spelling. */
const CLIENT_SECRET = `cs+${hex}/=& x%`;
const SA_EMAIL = "mailer@proj.iam.gserviceaccount.test";
const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
const PEM = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
const TIMEOUT_MS = 1500;
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

let h: Harness;
let peer: HostileTokenPeer;
let smtp: TestSmtpServer;
/** Every API answer body, for the leak scan. */
const answers: string[] = [];
const jobIds: string[] = [];
/** JWT assertions the echo endpoint received, for the leak scan. */
const assertions: string[] = [];

before(async () => {
  peer = await startHostileTokenPeer({ dripMs: 100 });
  smtp = await startTestSmtpServer({ xoauth2: (_user, token) => peer.isIssued(token) });
  h = await createHarness("hostile-token", {
    env: { JOB_ATTEMPTS: "2" },
    delivery: { tokenEndpoint: { timeoutMs: TIMEOUT_MS, connectTimeoutMs: 1000 } },
  });
});

after(async () => {
  await h.close();
  await Promise.all([peer.close(), smtp.close()]);
});

type Auth = Record<string, unknown>;
const clientSecretAuth = (path: string, extra: Auth = {}): Auth => ({ type: "oauth", clientId: "app", clientSecret: CLIENT_SECRET, tokenUrl: `${peer.base}/${path}`, scope: "s", ...extra });

async function configure(projectId: string, auth: Auth): Promise<void> {
  const res = await h.app.inject({ method: "PUT", url: `/v1/projects/${projectId}/smtp-config`, headers: h.auth, payload: { host: "localhost", port: smtp.port, fromEmail: `alerts@${projectId}.test`, auth } });
  answers.push(res.body);
  assert.equal(res.statusCode, 200, res.body);
}

interface Failure { ok: false; stage: string; code: string; message: string; hint: string }

/** POST …/test while sampling /healthz every 25 ms; returns the answer, its time and the slowest /healthz. */
async function testSend(projectId: string): Promise<{ body: Failure; ms: number; slowestHealthMs: number }> {
  let done = false;
  let slowest = 0;
  const sampler = (async () => {
    while (!done) {
      const t = performance.now();
      const res = await h.app.inject({ method: "GET", url: "/healthz" });
      assert.equal(res.statusCode, 200);
      slowest = Math.max(slowest, performance.now() - t);
      await new Promise((r) => setTimeout(r, 25));
    }
  })();
  const started = performance.now();
  const res = await h.app.inject({ method: "POST", url: `/v1/projects/${projectId}/smtp-config/test`, headers: h.auth, payload: { to: "ops@example.com" } });
  const ms = performance.now() - started;
  done = true;
  await sampler;
  answers.push(res.body);
  assert.equal(res.statusCode, 422, res.body);
  return { body: res.json() as Failure, ms, slowestHealthMs: slowest };
}

async function failedJob(projectId: string): Promise<string> {
  const [id] = await enqueue(h, { type: "alert", projectId, to: ["ops@example.com"], data: { alertId: "1", title: "t", state: "created", severity: "high" } });
  jobIds.push(id!);
  const job = await waitForJobState(h, id!, ["failed"], 20_000);
  return job.failedReason ?? "";
}

/** Peer text is bounded and one clean line. */
function assertClean(text: string, what: string): void {
  assert.ok(!CONTROL.test(text), `${what} has control characters: ${JSON.stringify(text.slice(0, 200))}`);
  assert.ok(!text.includes("owned-title\u0007"), `${what} carries an OSC sequence`);
}

test("an endpoint that echoes the request (client_secret_post): invalid_client, the secret masked everywhere", async () => {
  await configure("echo-post", clientSecretAuth("echo"));
  const { body, slowestHealthMs } = await testSend("echo-post");
  assert.deepEqual([body.stage, body.code], ["token", "invalid_client"]);
  assert.match(body.message, /client_secret=\[redacted\]/, "the echo is shown, with the secret masked");
  assert.ok(slowestHealthMs < 200, `/healthz took ${slowestHealthMs} ms`);
  const reason = await failedJob("echo-post");
  assert.match(reason, /^\[token\] invalid_client: .*\[redacted\]/);
});

test("an endpoint that echoes into `error` (the field that becomes our code): the code is ours, the secret masked", async () => {
  await configure("echo-error", clientSecretAuth("echo-error"));
  const { body } = await testSend("echo-error");
  assert.deepEqual([body.stage, body.code], ["token", "http_400"]);
  assert.match(body.message, /\[redacted\]/);
  await failedJob("echo-error");
});

test("an echo of client_secret_basic: the Authorization header and the decoded credentials are masked", async () => {
  await configure("echo-basic", clientSecretAuth("echo", { tokenEndpointAuth: "client_secret_basic" }));
  const { body } = await testSend("echo-basic");
  assert.equal(body.code, "invalid_client");
  assert.match(body.message, /with \[redacted\]/);
  assert.ok(peer.requests.some((r) => r.path === "/echo" && r.authorization?.startsWith("Basic ")), "the request did carry Basic credentials");
});

test("an echo of a JWT-bearer request: the signed assertion is masked", async () => {
  await configure("echo-jwt", { type: "oauth", clientId: SA_EMAIL, clientSecret: PEM, tokenUrl: `${peer.base}/echo`, scope: "s" });
  const before = peer.requests.length;
  const { body } = await testSend("echo-jwt");
  assert.equal(body.code, "invalid_client");
  const assertion = new URLSearchParams(peer.requests[before]!.body).get("assertion") ?? "";
  assert.ok(assertion.split(".").length === 3, "the endpoint received a JWT");
  assert.ok(!body.message.includes(assertion) && !body.message.includes(assertion.split(".")[2]!));
  assert.match(body.message, /assertion=\[redacted\]/);
  assertions.push(assertion);
});

test("a 60 KB error with CR/LF and ANSI/OSC escapes: one clean line of at most 1 KB, in the answer and the job reason", async () => {
  await configure("huge", clientSecretAuth("huge-error"));
  const { body, slowestHealthMs } = await testSend("huge");
  assert.equal(body.stage, "token");
  assert.ok(body.message.length <= 1024, `message: ${body.message.length} characters`);
  assert.ok(body.code.length <= 64);
  assertClean(body.message, "the message");
  assert.ok(slowestHealthMs < 200, `/healthz took ${slowestHealthMs} ms`);
  const reason = await failedJob("huge");
  assert.ok(reason.length <= 1024 + 400, `job reason: ${reason.length} characters`);
  assertClean(reason, "the job reason");
  assert.ok(!reason.includes(ESCAPES));
});

for (const [path, code, what] of [
  ["endless", "token_response_too_large", "a body that never ends"],
  ["drip", "token_timeout", "a body dripped a byte at a time"],
  ["silent", "token_timeout", "an endpoint that never answers"],
] as const) {
  test(`${what}: ${code} within the request deadline, /healthz responsive throughout`, async () => {
    await configure(path, clientSecretAuth(path));
    const { body, ms, slowestHealthMs } = await testSend(path);
    assert.deepEqual([body.stage, body.code], ["token", code]);
    assert.ok(ms < TIMEOUT_MS + 2000, `answered after ${Math.round(ms)} ms`);
    assert.ok(slowestHealthMs < 200, `/healthz took ${Math.round(slowestHealthMs)} ms`);
    // The connection was given up, not left open for the peer to hold.
    await eventually(() => (peer.openConnections === 0 ? true : undefined), 3000, "the peer's connections to close");
  });
}

test("a drip-feed token endpoint does not hold a worker past the deadline: the job fails with token_timeout", async () => {
  const reason = await failedJob("drip");
  assert.match(reason, /^\[token\] token_timeout/);
});

test("expires_in 1e308: capped at a day, cached in Redis with a finite TTL, one token request for two sends", async () => {
  await configure("forever", clientSecretAuth(`expires/${encodeURIComponent("1e308")}`));
  const before = peer.requests.length;
  for (const to of ["a@example.com", "b@example.com"]) {
    const [id] = await enqueue(h, { type: "alert", projectId: "forever", to: [to], data: { alertId: "1", title: "t", state: "created", severity: "high" } });
    await waitForJobState(h, id!, ["completed"]);
  }
  assert.equal(peer.requests.length - before, 1, "the second send used the cached token");
  const ids = await h.services.redis.smembers(h.services.keys.tokenIndex("forever"));
  assert.equal(ids.length, 1);
  const ttl = await h.services.redis.pttl(h.services.keys.token(ids[0]!));
  assert.ok(ttl > 0 && ttl <= MAX_TOKEN_LIFETIME_S * 1000, `token TTL ${ttl} ms`);
  assert.ok(!h.logs.some((l) => l.includes("could not store")), "the Redis write succeeded");
});

test('expires_in "3600" (a digit string) is accepted; -1 and "abc" are token_response_incomplete', async () => {
  await configure("digits", clientSecretAuth(`expires/${encodeURIComponent('"3600"')}`));
  const [ok] = await enqueue(h, { type: "alert", projectId: "digits", to: ["c@example.com"], data: { alertId: "1", title: "t", state: "created", severity: "high" } });
  await waitForJobState(h, ok!, ["completed"]);
  for (const [projectId, value] of [["negative", "-1"], ["letters", '"abc"']] as const) {
    await configure(projectId, clientSecretAuth(`expires/${encodeURIComponent(value)}`));
    const { body } = await testSend(projectId);
    assert.deepEqual([body.stage, body.code], ["token", "token_response_incomplete"]);
  }
});

test("429 and 503 with Retry-After: transient, with the throttling hint", async () => {
  await configure("busy", clientSecretAuth("status/429?retryAfter=1"));
  const { body } = await testSend("busy");
  assert.deepEqual([body.stage, body.code], ["token", "http_429"]);
  assert.match(body.hint, /rate limiting/);
  await configure("down", clientSecretAuth("status/503?retryAfter=99999999999999999999"));
  const down = await testSend("down");
  assert.equal(down.body.code, "http_503");
  const [id] = await enqueue(h, { type: "alert", projectId: "busy", to: ["d@example.com"], data: { alertId: "1", title: "t", state: "created", severity: "high" } });
  jobIds.push(id!);
  const job = await waitForJobState(h, id!, ["failed"], 20_000);
  assert.equal(job.attempts, 2, "retried (transient), then out of attempts");
});

test("a token-cache write that Redis refuses is logged as a warning, and the send still goes out", async () => {
  let heard = false;
  h.delivery!.resolver.onChange((projectId) => (heard ||= projectId === "wrongtype"));
  await configure("wrongtype", clientSecretAuth(`expires/3600`));
  // The worker drops the project's token keys when it hears of the change: let it, first.
  await eventually(() => (heard ? true : undefined), 5000, "the config change to reach the worker");
  await new Promise((r) => setTimeout(r, 300));
  // The project's token index is a string, so the SADD inside the MULTI fails.
  await h.services.redis.set(h.services.keys.tokenIndex("wrongtype"), "not a set");
  const [id] = await enqueue(h, { type: "alert", projectId: "wrongtype", to: ["e@example.com"], data: { alertId: "1", title: "t", state: "created", severity: "high" } });
  await waitForJobState(h, id!, ["completed"]);
  const warning = h.logs.map((l) => JSON.parse(l) as { level: number; msg: string; projectId?: string; err?: { message: string } })
    .find((l) => l.msg === "could not store the access token in Redis" && l.projectId === "wrongtype");
  assert.ok(warning, "a warning names the failed write");
  assert.equal(warning.level, 40);
  assert.match(warning.err?.message ?? "", /WRONGTYPE/);
});

test("no secret anywhere: API answers, job reasons, logs, every Redis value under the prefix", async () => {
  const reasons = await Promise.all(jobIds.map(async (id) => JSON.stringify(await getJob(h, id))));
  const dump = await dumpPrefix(h.services.redis, h.settings.prefix);
  const basic = Buffer.from(`app:${new URLSearchParams({ v: CLIENT_SECRET }).toString().slice(2)}`).toString("base64");
  const secrets = [...secretForms(CLIENT_SECRET), basic, ...assertions, ...assertions.map((a) => a.split(".")[2]!), PEM.split("\n")[5]!];
  const places: [string, string][] = [["API answers", answers.join("\n")], ["jobs", reasons.join("\n")], ["logs", h.logs.join("\n")], ["Redis", dump.text]];
  for (const [where, text] of places) {
    for (const secret of secrets) assert.ok(!text.includes(secret), `${where} contain ${secret.slice(0, 12)}…`);
  }
  assert.ok(dump.keys.some((k) => k.includes(":token-error:")), "the negative cache was written (and scanned)");
  assert.ok(assertions.length === 1 && reasons.length >= 5);
});
