// What an operator touches: /metrics moving with real sends (parsed from the exposition text),
// the admin token on /v1 and the board (Bearer and Basic), the board's JSON API showing a
// classified failure and retrying it, and /healthz + /readyz (503 when Redis is unreachable).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { createHarness, waitForJobState, type Harness, enqueue } from "../helpers/harness.ts";
import { freePort, startTestSmtpServer, type TestSmtpServer } from "../helpers/smtp-server.ts";
import { startTokenServer, type TestTokenServer } from "../helpers/token-server.ts";
import { buildApp } from "../../src/http/app.ts";
import { createEmailProducer } from "../../src/producer.ts";
import { SmtpConfigStore } from "../../src/smtp-config/store.ts";
import { createKeys } from "../../src/keys.ts";

const hex = randomBytes(6).toString("hex");
const PASS = `smtp-pass-${hex}`;
const CLIENT_SECRET = `client-secret-${hex}`;
const incident = { incidentId: "42", title: "API down", state: "created", severity: "critical" };

let h: Harness;
let smtp: TestSmtpServer;
let tokens: TestTokenServer;
/** A job that failed with a 550, for the board tests. */
let failedJobId: string | undefined;

before(async () => {
  tokens = await startTokenServer({ client: { id: "app", secret: CLIENT_SECRET } });
  smtp = await startTestSmtpServer({ password: { user: "mailer", pass: PASS }, xoauth2: (user, token) => tokens.isValid(user, token) });
  h = await createHarness("operations");
  const configs: [string, object][] = [
    ["pw", { type: "password", username: "mailer", password: PASS }],
    ["oauth", { type: "oauth", clientId: "app", clientSecret: CLIENT_SECRET, tokenUrl: tokens.url, scope: "https://outlook.office365.com/.default" }],
  ];
  for (const [projectId, auth] of configs) {
    const res = await h.app.inject({ method: "PUT", url: `/v1/projects/${projectId}/smtp-config`, headers: h.auth,
      payload: { host: "localhost", port: smtp.port, fromEmail: "status@acme.test", auth } });
    assert.equal(res.statusCode, 200, res.body);
  }
});

after(async () => {
  await h.close();
  await smtp.close();
  await tokens.close();
});

/** Prometheus text → value by `name{label="v",…}`, labels sorted so their order does not matter. */
function parseExposition(text: string): Map<string, number> {
  const values = new Map<string, number>();
  for (const line of text.split("\n")) {
    const m = /^([A-Za-z_:][\w:]*)(?:\{(.*)\})? (\S+)/.exec(line);
    if (!m) continue;
    const labels = [...(m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map(([, k, v]) => `${k}="${v}"`).sort();
    values.set(`${m[1]}{${labels.join(",")}}`, Number(m[3]));
  }
  return values;
}

function series(name: string, labels: Record<string, string> = {}): string {
  return `${name}{${Object.entries(labels).map(([k, v]) => `${k}="${v}"`).sort().join(",")}}`;
}

async function scrape(): Promise<(name: string, labels?: Record<string, string>) => number | undefined> {
  const res = await h.app.inject({ method: "GET", url: "/metrics" });
  assert.equal(res.statusCode, 200);
  assert.match(String(res.headers["content-type"]), /^text\/plain; version=0\.0\.4/);
  const values = parseExposition(res.body);
  return (name, labels = {}) => values.get(series(name, labels));
}

async function send(projectId: string, to: string, type = "incident", data: object = incident): Promise<string> {
  return (await enqueue(h, { type, projectId, to: [to], data }))[0]!;
}

test("the exposition parser reads names, sorted labels and values", () => {
  const v = parseExposition('# HELP x y\na_total{b="2",a="1"} 3\nplain 4.5\n');
  assert.deepEqual([...v], [['a_total{a="1",b="2"}', 3], ["plain{}", 4.5]]);
});

test("/metrics: two incidents delivered move sent, duration, queue depth and pool gauges", async () => {
  const before = await scrape();
  const type = { type: "incident" };
  for (const to of ["m1@example.com", "m2@example.com"]) await waitForJobState(h, await send("pw", to), ["completed"]);
  const after = await scrape();
  assert.equal((after("notify_emails_sent_total", type) ?? 0) - (before("notify_emails_sent_total", type) ?? 0), 2);
  const count = "notify_email_send_duration_seconds_count";
  assert.equal((after(count, type) ?? 0) - (before(count, type) ?? 0), 2);
  assert.ok((after("notify_email_send_duration_seconds_sum", type) ?? 0) > 0);
  assert.ok((after("notify_queue_jobs", { state: "completed" }) ?? 0) >= 2);
  assert.ok((after("notify_smtp_pooled_transports") ?? 0) >= 1);
  assert.equal(typeof after("process_cpu_user_seconds_total"), "number", "default process metrics");
  assert.equal(typeof after("nodejs_heap_size_total_bytes"), "number");
});

test("/metrics: a 550 counts as a final send failure; a 451 counts a retry", async () => {
  const before = await scrape();
  smtp.script.push({ at: "RCPT", code: 550, message: "5.1.1 <gone@example.com>: Recipient address rejected" });
  failedJobId = await send("pw", "gone@example.com");
  await waitForJobState(h, failedJobId, ["failed"]);
  smtp.script.push({ at: "RCPT", code: 451, message: "4.3.0 Try again later" });
  await waitForJobState(h, await send("pw", "later@example.com"), ["completed"]);
  const after = await scrape();
  const delta = (name: string, labels: Record<string, string>) => (after(name, labels) ?? 0) - (before(name, labels) ?? 0);
  assert.equal(delta("notify_email_failures_total", { type: "incident", stage: "send", outcome: "final" }), 1);
  assert.equal(delta("notify_email_failures_total", { type: "incident", stage: "send", outcome: "retry" }), 1);
  assert.equal(delta("notify_email_retries_total", { type: "incident" }), 1);
  assert.ok((after("notify_queue_jobs", { state: "failed" }) ?? 0) >= 1);
});

test("/metrics: an OAuth send counts a successful token request and a cache miss", async () => {
  const before = await scrape();
  const alert = { alertId: "7", title: "Disk full", state: "created", severity: "high" };
  await waitForJobState(h, await send("oauth", "o1@example.com", "alert", alert), ["completed"]);
  const after = await scrape();
  const delta = (name: string, labels: Record<string, string>) => (after(name, labels) ?? 0) - (before(name, labels) ?? 0);
  assert.equal(delta("notify_token_requests_total", { outcome: "ok" }), 1);
  assert.ok(delta("notify_token_cache_total", { result: "miss" }) >= 1);
  assert.equal(delta("notify_emails_sent_total", { type: "alert" }), 1);
  assert.equal(tokens.issued.length, 1);
});

test("without the token: /v1/* and the board answer 401 (the board with a Basic challenge)", async () => {
  const requests = [
    { method: "POST", url: "/v1/emails" }, { method: "GET", url: "/v1/jobs/x" },
    { method: "GET", url: "/v1/projects/p/smtp-config" }, { method: "PUT", url: "/v1/projects/p/smtp-config" },
    { method: "GET", url: "/admin/queues" }, { method: "GET", url: "/admin/queues/api/queues" },
  ] as const;
  const wrong = [undefined, "Bearer nope", `Basic ${Buffer.from("admin:nope").toString("base64")}`];
  // Each from its own address: more than 10 refusals from one would be answered 429 (admin-auth.test.ts).
  let n = 0;
  for (const { method, url } of requests) {
    for (const authorization of wrong) {
      const res = await h.app.inject({ method, url, remoteAddress: `192.0.2.${++n}`, headers: authorization ? { authorization } : {}, payload: {} });
      assert.equal(res.statusCode, 401, `${method} ${url} with ${authorization ?? "nothing"}`);
      assert.equal((res.json() as { error: { code: string } }).error.code, "unauthorized");
      if (url.startsWith("/admin")) assert.match(String(res.headers["www-authenticate"]), /^Basic realm=/);
    }
  }
});

test("the board serves HTML with the token as Bearer, or as the Basic password of any user", async () => {
  const basic = `Basic ${Buffer.from(`whoever:${h.settings.adminToken}`).toString("base64")}`;
  for (const authorization of [h.auth.authorization, basic]) {
    const res = await h.app.inject({ method: "GET", url: "/admin/queues", headers: { authorization } });
    assert.equal(res.statusCode, 200, authorization.split(" ")[0]);
    assert.match(String(res.headers["content-type"]), /^text\/html/);
    assert.match(res.body, /<html/i);
  }
});

interface BoardQueue { name: string; displayName?: string; jobs: { id: string; failedReason?: string; data: unknown }[] }

test("the board's API: a natural queue name, the failed job's classified reason, no secret; retry delivers it", async () => {
  assert.ok(failedJobId, "the 550 test left a failed job");
  const api = async (query: string) => {
    const res = await h.app.inject({ method: "GET", url: `/admin/queues/api/queues${query}`, headers: h.auth });
    assert.equal(res.statusCode, 200, res.body);
    return { text: res.body, queues: (res.json() as { queues: BoardQueue[] }).queues };
  };
  const { queues } = await api("");
  assert.equal(queues.length, 1);
  const queue = queues[0]!;
  assert.equal(queue.displayName, "Email deliveries");
  const failed = await api(`?activeQueue=${encodeURIComponent(queue.name)}&status=failed&jobsPerPage=50`);
  const job = failed.queues[0]!.jobs.find((j) => j.id === failedJobId);
  assert.ok(job, `job ${failedJobId} is listed as failed`);
  assert.match(job.failedReason ?? "", /^\[send\] 550: .*Recipient address rejected/);
  assert.match(job.failedReason ?? "", /Hint: .*recipient/);
  // What the job carries is the job contract, nothing more: no config, no credentials.
  assert.deepEqual(job.data, { type: "incident", projectId: "pw", to: "gone@example.com", data: incident, enqueuedAt: (job.data as { enqueuedAt: number }).enqueuedAt });
  for (const secret of [PASS, CLIENT_SECRET, ...tokens.issued.map((t) => t.token)]) {
    assert.ok(!failed.text.includes(secret), "no secret in what the board shows");
  }

  const received = smtp.received.length;
  const retry = await h.app.inject({ method: "PUT", url: `/admin/queues/api/queues/${encodeURIComponent(queue.name)}/${failedJobId}/retry`, headers: h.auth });
  assert.equal(retry.statusCode, 204, retry.body);
  await waitForJobState(h, failedJobId, ["completed"]);
  assert.equal(smtp.received.length, received + 1);
  assert.deepEqual(smtp.received.at(-1)?.to, ["gone@example.com"]);
});

test("/healthz and /readyz answer 200 without a token", async () => {
  for (const url of ["/healthz", "/readyz"]) {
    const res = await h.app.inject({ method: "GET", url });
    assert.equal(res.statusCode, 200, `${url}: ${res.body}`);
    assert.equal((res.json() as { ok: boolean }).ok, true);
  }
});

test("/readyz answers 503 when Redis is unreachable, while /healthz stays 200", async () => {
  const errors: Error[] = [];
  const redis = new Redis({ host: "127.0.0.1", port: await freePort(), lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  redis.on("error", (err: Error) => errors.push(err));
  const app = await buildApp({ ...h.appDeps, redis, metrics: undefined });
  try {
    await app.ready();
    const ready = await app.inject({ method: "GET", url: "/readyz" });
    assert.equal(ready.statusCode, 503, ready.body);
    assert.equal((ready.json() as { error: { code: string } }).error.code, "redis_unavailable");
    const health = await app.inject({ method: "GET", url: "/healthz" });
    assert.equal(health.statusCode, 200);
  } finally {
    await app.close();
    redis.disconnect();
  }
});

test("with Redis down, enqueueing and config changes answer 503 redis_unavailable, not 500", async () => {
  const redis = new Redis({ host: "127.0.0.1", port: await freePort(), lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  redis.on("error", () => {});
  const producer = createEmailProducer({ redis, prefix: h.settings.prefix });
  const store = new SmtpConfigStore(redis, createKeys(h.settings.prefix), h.settings.masterKey);
  const app = await buildApp({ ...h.appDeps, redis, producer, store, metrics: undefined });
  try {
    await app.ready();
    const email = await app.inject({ method: "POST", url: "/v1/emails", headers: h.auth, payload: {
      type: "alert", projectId: "p", to: ["a@example.com"], data: { alertId: "1", title: "t", state: "created", severity: "s" },
    } });
    const config = await app.inject({ method: "GET", url: "/v1/projects/p/smtp-config", headers: h.auth });
    for (const res of [email, config]) {
      assert.equal(res.statusCode, 503, res.body);
      assert.equal((res.json() as { error: { code: string } }).error.code, "redis_unavailable");
      assert.equal(res.headers["retry-after"], "5");
    }
  } finally {
    await app.close();
    await producer.queue.close().catch(() => undefined);
    redis.disconnect();
  }
});
