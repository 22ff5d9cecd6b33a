// The Microsoft Graph transport end to end: a real worker and API against a local
// Graph-compatible endpoint (test/helpers/peers/graph.ts) and the test token server.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHarness, enqueue, getJob, putConfig, waitForJobState, type Harness } from "../helpers/harness.ts";
import { startTokenServer, type TestTokenServer } from "../helpers/token-server.ts";
import { startGraphPeer, type GraphPeer } from "../helpers/peers/graph.ts";
import { dumpPrefix } from "../helpers/redis-dump.ts";
import { runCli } from "../helpers/cli.ts";
import type { AddressInfo } from "node:net";

const SECRET = "graph-client-secret-Zq81";
const SENDER = "status@contoso.test";

let h: Harness;
let tokens: TestTokenServer;
let graph: GraphPeer;

before(async () => {
  h = await createHarness("graph");
  tokens = await startTokenServer({ client: { id: "app-1", secret: SECRET } });
  graph = await startGraphPeer({
    tokens,
    mailboxes: { [SENDER]: ["app-1"], "alerts@contoso.test": ["app-1"], "throttled@contoso.test": ["app-1"], "locked@contoso.test": ["app-9"] },
  });
});
after(async () => {
  await h.close();
  await graph.close();
  await tokens.close();
});

function graphConfig(fromEmail = SENDER, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    transport: "graph", fromEmail, fromName: "Contoso Status", graphUrl: graph.url,
    auth: { type: "oauth", clientId: "app-1", clientSecret: SECRET, tokenUrl: tokens.url },
    ...extra,
  };
}

const incident = { incidentId: "inc-1", title: "API down", state: "created", severity: "critical", description: "5xx everywhere", monitors: ["api"], url: "https://status.contoso.test/i/1" };
const alert = { alertId: "al-1", title: "CPU high", state: "acknowledged", severity: "high" };
const statusPage = { statusPageId: "sp-1", statusPageName: "Contoso", kind: "maintenance", title: "DB upgrade", body: "Tonight 22:00 UTC", unsubscribeUrl: "https://status.contoso.test/u/x" };

test("validation: graph refuses host/port/secure (one detail each), needs OAuth, fills graphUrl and scope; GET shows it redacted", async () => {
  const bad = await h.app.inject({
    method: "PUT", url: "/v1/projects/gv/smtp-config", headers: h.auth,
    payload: { ...graphConfig(), host: "smtp.office365.com", port: 587, secure: true },
  });
  assert.equal(bad.statusCode, 400, bad.body);
  const fields = (bad.json() as { error: { details: { field: string }[] } }).error.details.map((d) => d.field).sort();
  assert.deepEqual(fields, ["host", "port", "secure"]);

  const password = await h.app.inject({ method: "PUT", url: "/v1/projects/gv/smtp-config", headers: h.auth, payload: { transport: "graph", fromEmail: SENDER, auth: { type: "password", username: "u", password: "p" } } });
  assert.equal(password.statusCode, 400);
  assert.deepEqual((password.json() as { error: { details: { field: string }[] } }).error.details.map((d) => d.field), ["auth.type"]);

  const smtpMissing = await h.app.inject({ method: "PUT", url: "/v1/projects/gv/smtp-config", headers: h.auth, payload: { fromEmail: SENDER, graphUrl: graph.url } });
  assert.equal(smtpMissing.statusCode, 400);
  assert.deepEqual((smtpMissing.json() as { error: { details: { field: string }[] } }).error.details.map((d) => d.field).sort(), ["graphUrl", "host", "port"]);

  const { graphUrl: _omit, ...noUrl } = graphConfig();
  const defaulted = await h.app.inject({ method: "PUT", url: "/v1/projects/gv/smtp-config", headers: h.auth, payload: noUrl });
  assert.equal(defaulted.statusCode, 200, defaulted.body);
  const stored = defaulted.json() as Record<string, unknown> & { auth: Record<string, unknown> };
  assert.equal(stored.graphUrl, "https://graph.microsoft.com");
  assert.equal(stored.auth.scope, "https://graph.microsoft.com/.default");
  assert.equal(stored.auth.clientSecret, "[redacted]");
  assert.equal(stored.host, undefined);
  assert.equal(stored.port, undefined);

  const got = await h.app.inject({ method: "GET", url: "/v1/projects/gv/smtp-config", headers: h.auth });
  const view = got.json() as Record<string, unknown>;
  assert.equal(view.transport, "graph");
  assert.deepEqual(view.limits, { maxConnections: 4 });
  assert.equal(view.limitsSource, "provider-default");
  assert.ok(!got.body.includes(SECRET));

  // The GET body goes back as is; a new graphUrl without the secret is secret_required.
  const back = await h.app.inject({ method: "PUT", url: "/v1/projects/gv/smtp-config", headers: h.auth, payload: view });
  assert.equal(back.statusCode, 200, back.body);
  const moved = await h.app.inject({ method: "PUT", url: "/v1/projects/gv/smtp-config", headers: h.auth, payload: { ...view, graphUrl: "https://graph.attacker.test" } });
  assert.equal(moved.statusCode, 400);
  assert.equal((moved.json() as { error: { code: string } }).error.code, "secret_required");
});

test("all three email types go out through sendMail as correct MIME, with one token for all", async () => {
  await putConfig(h, "g1", graphConfig());
  const tokenRequests = tokens.requests.length;
  const before = graph.mails.length;
  const ids = [
    ...(await enqueue(h, { type: "incident", projectId: "g1", to: ["ops@example.com"], data: incident })),
    ...(await enqueue(h, { type: "alert", projectId: "g1", to: ["ops@example.com", "dev@example.com"], data: alert })),
    ...(await enqueue(h, { type: "status-page", projectId: "g1", to: ["sub@example.com"], data: statusPage })),
  ];
  const jobs = await Promise.all(ids.map((id) => waitForJobState(h, id, ["completed"])));
  assert.equal(tokens.requests.length - tokenRequests, 1, "one token request for four emails");
  const mails = graph.mails.slice(before);
  assert.equal(mails.length, 4);
  for (const job of jobs) {
    assert.equal(job.result?.response, "202 Accepted");
    const mail = mails.find((m) => m.parsed.messageId === job.result?.messageId);
    assert.ok(mail, `the Message-ID of job ${job.id} is the one Graph received`);
    assert.equal(mail.mailbox, SENDER);
    assert.deepEqual(mail.parsed.from?.value, [{ address: SENDER, name: "Contoso Status" }]);
    assert.equal((Array.isArray(mail.parsed.to) ? mail.parsed.to[0] : mail.parsed.to)?.value[0]?.address, job.to);
    assert.ok(mail.parsed.text && mail.parsed.text.length > 0, "a text part");
    assert.ok(typeof mail.parsed.html === "string" && mail.parsed.html.includes("<"), "an html part");
  }
  const subjects = mails.map((m) => m.parsed.subject ?? "");
  assert.ok(subjects.some((s) => s.includes("API down")));
  assert.ok(subjects.some((s) => s.includes("CPU high")));
  assert.ok(subjects.some((s) => s.includes("DB upgrade")));
  // What Graph got is exactly what went over the wire: text/plain, base64.
  const posts = graph.requests.filter((r) => r.method === "POST" && r.mailbox === SENDER);
  assert.ok(posts.every((r) => r.contentType === "text/plain" && r.authorization?.startsWith("Bearer at-")));
});

test("429 with Retry-After: the job waits without consuming an attempt and is delivered after it", async () => {
  await putConfig(h, "g429", graphConfig("throttled@contoso.test"));
  graph.script.push({ status: 429, code: "ApplicationThrottled", message: "Application is over its MailboxConcurrency limit.", headers: { "retry-after": "1" } });
  const [id] = await enqueue(h, { type: "alert", projectId: "g429", to: ["ops@example.com"], data: alert });
  const job = await waitForJobState(h, id!, ["completed"]);
  assert.equal(job.attempts, 1, "the wait consumed no attempt");
  const throttled = graph.requests.find((r) => r.mailbox === "throttled@contoso.test" && r.status === 429);
  assert.ok(throttled);
  const delivered = graph.mails.find((m) => m.mailbox === "throttled@contoso.test");
  assert.ok(delivered);
  assert.ok(delivered.at - throttled.at >= 900, `delivered ${delivered.at - throttled.at} ms after the 429, Retry-After was 1 s`);
  const sends = graph.requests.filter((r) => r.mailbox === "throttled@contoso.test" && r.method === "POST");
  assert.equal(sends.length, 2, "one throttled request, one that delivered");
});

test("401 once: the token is dropped and the send retried once with a fresh one", async () => {
  await putConfig(h, "g401", graphConfig("alerts@contoso.test"));
  // Warm the cache, then make Graph refuse the next request once.
  const [warm] = await enqueue(h, { type: "alert", projectId: "g401", to: ["a@example.com"], data: alert });
  await waitForJobState(h, warm!, ["completed"]);
  const issuedBefore = tokens.issued.length;
  const firstToken = graph.mails.at(-1)!.token;
  graph.script.push({ status: 401, code: "InvalidAuthenticationToken", message: "Lifetime validation failed, the token is expired." });
  const [id] = await enqueue(h, { type: "alert", projectId: "g401", to: ["b@example.com"], data: alert });
  const job = await waitForJobState(h, id!, ["completed"]);
  assert.equal(job.attempts, 1, "refreshed within the same attempt");
  assert.equal(tokens.issued.length - issuedBefore, 1, "exactly one fresh token");
  assert.notEqual(graph.mails.at(-1)!.token, firstToken);
});

test("sends one after another reuse the mailbox's kept-alive connection", async () => {
  await putConfig(h, "gka", graphConfig());
  const [first] = await enqueue(h, { type: "alert", projectId: "gka", to: ["k0@example.com"], data: alert });
  await waitForJobState(h, first!, ["completed"]);
  const opened = graph.connections();
  for (let i = 1; i <= 3; i++) {
    const [id] = await enqueue(h, { type: "alert", projectId: "gka", to: [`k${i}@example.com`], data: alert });
    await waitForJobState(h, id!, ["completed"]);
  }
  assert.equal(graph.connections(), opened, "no new connection for three more sends");
});

test("503 is throttling too: the job waits for Retry-After and is delivered in its first attempt", async () => {
  await putConfig(h, "g503", graphConfig("throttled@contoso.test"));
  graph.script.push({ status: 503, code: "ServiceUnavailable", message: "Service Unavailable", headers: { "retry-after": "1" } });
  const [id] = await enqueue(h, { type: "incident", projectId: "g503", to: ["ops@example.com"], data: incident });
  const job = await waitForJobState(h, id!, ["completed"]);
  assert.equal(job.attempts, 1);
  assert.equal(job.result?.response, "202 Accepted");
});

test("401 again after a fresh token fails with a hint about the token's audience and tenant", async () => {
  await putConfig(h, "g401x", graphConfig("alerts@contoso.test"));
  graph.script.push({ status: 401, code: "InvalidAuthenticationToken", message: "Access token validation failure. Invalid audience." });
  graph.script.push({ status: 401, code: "InvalidAuthenticationToken", message: "Access token validation failure. Invalid audience." });
  const [id] = await enqueue(h, { type: "alert", projectId: "g401x", to: ["a@example.com"], data: alert });
  const job = await waitForJobState(h, id!, ["failed"]);
  assert.match(job.failedReason ?? "", /\[send\] 401/);
  assert.match(job.failedReason ?? "", /graph\.microsoft\.com\/\.default/);
});

test("403 ErrorAccessDenied and 404 ErrorInvalidUser fail at once with the hint", async () => {
  await putConfig(h, "g403", graphConfig("locked@contoso.test"));
  await putConfig(h, "g404", graphConfig("nobody@contoso.test"));
  const [denied] = await enqueue(h, { type: "alert", projectId: "g403", to: ["a@example.com"], data: alert });
  const [missing] = await enqueue(h, { type: "alert", projectId: "g404", to: ["a@example.com"], data: alert });
  const a = await waitForJobState(h, denied!, ["failed"]);
  const b = await waitForJobState(h, missing!, ["failed"]);
  assert.equal(a.attempts, 1);
  assert.match(a.failedReason ?? "", /\[send\] 403: Access is denied/);
  assert.match(a.failedReason ?? "", /Mail\.Send/);
  assert.match(a.failedReason ?? "", /admin consent/);
  assert.match(a.failedReason ?? "", /New-ApplicationAccessPolicy/);
  assert.equal(b.attempts, 1);
  assert.match(b.failedReason ?? "", /\[send\] 404/);
  assert.match(b.failedReason ?? "", /licensed/);
});

test("400 ErrorMimeContentInvalidBase64String is permanent", async () => {
  await putConfig(h, "g400", graphConfig());
  graph.script.push({ status: 400, code: "ErrorMimeContentInvalidBase64String", message: "Invalid base64 string for MIME content." });
  const [id] = await enqueue(h, { type: "alert", projectId: "g400", to: ["a@example.com"], data: alert });
  const job = await waitForJobState(h, id!, ["failed"]);
  assert.equal(job.attempts, 1);
  assert.match(job.failedReason ?? "", /ErrorMimeContent|base64/);
});

test("test-send reports the token and send stages; verify checks the mailbox without sending", async () => {
  await putConfig(h, "gt", graphConfig());
  const sent = graph.mails.length;
  const ok = await h.app.inject({ method: "POST", url: "/v1/projects/gt/smtp-config/test", headers: h.auth, payload: { to: "ops@example.com" } });
  assert.equal(ok.statusCode, 200, ok.body);
  const body = ok.json() as { ok: boolean; response: string; messageId: string; timingsMs: Record<string, number> };
  assert.equal(body.response, "202 Accepted");
  assert.equal(graph.mails.at(-1)!.parsed.messageId, body.messageId);
  assert.equal(typeof body.timingsMs.token, "number");
  assert.equal(typeof body.timingsMs.send, "number");
  assert.equal(graph.mails.length, sent + 1);

  const denied = await h.app.inject({ method: "PUT", url: "/v1/projects/gt/smtp-config", headers: h.auth, payload: graphConfig("locked@contoso.test") });
  assert.equal(denied.statusCode, 200);
  const failed = await h.app.inject({ method: "POST", url: "/v1/projects/gt/smtp-config/test", headers: h.auth, payload: { to: "ops@example.com" } });
  assert.equal(failed.statusCode, 422);
  const outcome = failed.json() as { stage: string; code: string; hint: string };
  assert.equal(outcome.stage, "send");
  assert.equal(outcome.code, "403");
  assert.match(outcome.hint, /Mail\.Send/);

  const badToken = await h.app.inject({ method: "PUT", url: "/v1/projects/gt-token/smtp-config?verify=true", headers: h.auth, payload: graphConfig(SENDER, { auth: { type: "oauth", clientId: "app-1", clientSecret: "wrong", tokenUrl: tokens.url } }) });
  assert.equal(badToken.statusCode, 422);
  assert.equal((badToken.json() as { stage: string }).stage, "token");

  const before = graph.mails.length;
  const verified = await h.app.inject({ method: "PUT", url: "/v1/projects/gv2/smtp-config?verify=true", headers: h.auth, payload: graphConfig() });
  assert.equal(verified.statusCode, 200, verified.body);
  const unknown = await h.app.inject({ method: "PUT", url: "/v1/projects/gv3/smtp-config?verify=true", headers: h.auth, payload: graphConfig("nobody@contoso.test") });
  assert.equal(unknown.statusCode, 422);
  assert.equal((unknown.json() as { code: string }).code, "404");
  assert.equal((await h.app.inject({ method: "GET", url: "/v1/projects/gv3/smtp-config", headers: h.auth })).statusCode, 404, "a failed verify stores nothing");
  // Without User.Read.All the lookup is 403: not fatal.
  graph.options.userReadAll = false;
  try {
    const noRead = await h.app.inject({ method: "PUT", url: "/v1/projects/gv4/smtp-config?verify=true", headers: h.auth, payload: graphConfig() });
    assert.equal(noRead.statusCode, 200, noRead.body);
  } finally {
    graph.options.userReadAll = true;
  }
  assert.equal(graph.mails.length, before, "verify sent nothing");
});

test("no client secret or access token in Redis values, logs or responses", async () => {
  const ids = await enqueue(h, { type: "incident", projectId: "g1", to: ["x@example.com"], data: incident });
  const job = await waitForJobState(h, ids[0]!, ["completed"]);
  assert.ok(tokens.issued.length > 0);
  const dump = await dumpPrefix(h.services.redis, h.settings.prefix);
  const logs = h.logs.join("\n");
  const view = JSON.stringify(await getJob(h, job.id));
  for (const secret of [SECRET, ...tokens.issued.map((t) => t.token)]) {
    assert.ok(!dump.text.includes(secret), "a secret in Redis");
    assert.ok(!logs.includes(secret), "a secret in the logs");
    assert.ok(!view.includes(secret), "a secret in the job view");
  }
});

test("the CLI's config set --verify and config test work with a Graph config unchanged", async () => {
  await h.app.listen({ port: 0, host: "127.0.0.1" });
  const env = { NOTIFY_API_URL: `http://127.0.0.1:${(h.app.server.address() as AddressInfo).port}`, NOTIFY_ADMIN_TOKEN: h.settings.adminToken };
  const set = await runCli(["config", "set", "--project", "gcli", "--file", "-", "--verify"], { env, input: JSON.stringify(graphConfig()) });
  assert.equal(set.code, 0, set.stderr);
  assert.match(set.stdout, /"transport": "graph"/);
  assert.ok(!set.stdout.includes(SECRET));
  const sent = await runCli(["config", "test", "--project", "gcli", "--to", "ops@example.com"], { env });
  assert.equal(sent.code, 0, sent.stderr);
  assert.match(sent.stdout, /202 Accepted/);
  await putConfig(h, "gcli", graphConfig("locked@contoso.test"));
  const failed = await runCli(["config", "test", "--project", "gcli", "--to", "ops@example.com"], { env });
  assert.equal(failed.code, 1);
  assert.match(failed.stdout + failed.stderr, /send/);
  assert.match(failed.stdout + failed.stderr, /Mail\.Send/);
});
