// The admin token guard as an attacker meets it: 3,000 wrong tokens from one address (through
// inject and through a real listening server) end in 429s and a handful of summary warn lines
// with counts, while the right token keeps working from another address; Basic is refused on
// /v1; a header with anything after the token is refused; the board refuses a cross-origin
// change made with cached Basic credentials; a credential in a query string is never logged.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { request as httpRequest, Agent } from "node:http";
import type { AddressInfo } from "node:net";
import type { FastifyInstance } from "fastify";
import { createHarness, enqueue, passwordConfig, putConfig, waitForJobState, type Harness } from "../helpers/harness.ts";
import { startTestSmtpServer, type TestSmtpServer } from "../helpers/smtp-server.ts";
import { buildApp } from "../../src/http/app.ts";

const PASS = "auth-test-smtp-pass";
const ATTACKS = 3000;

let h: Harness;
let smtp: TestSmtpServer;

before(async () => {
  smtp = await startTestSmtpServer({ password: { user: "mailer", pass: PASS } });
  h = await createHarness("admin-auth");
  await putConfig(h, "pw", passwordConfig(smtp.port, "mailer", PASS));
});

after(async () => {
  await h.close();
  await smtp.close();
});

interface Summary {
  level: number;
  event: string;
  refused: number;
  throttled: number;
  addresses: number;
  top: { remoteAddress: string; refused: number; throttled: number }[];
}

/** The app's own world (own throttle), so closing it writes its last summary line. */
async function freshApp(): Promise<{ app: FastifyInstance; from: number }> {
  const app = await buildApp({ ...h.appDeps });
  await app.ready();
  return { app, from: h.logs.length };
}

function summaries(from: number): Summary[] {
  return h.logs.slice(from).map((line) => JSON.parse(line) as Summary & { msg: string }).filter((l) => l.event === "admin_auth_refused");
}

function wrongToken(i: number): string {
  return `guess-${String(i).padStart(6, "0")}-not-the-admin-token`;
}

test("3,000 wrong tokens (inject): 10 answered 401, the rest 429 with Retry-After; the right token works from another address; one warn line with the counts", async () => {
  const { app, from } = await freshApp();
  const attacker = "203.0.113.7";
  const statuses = new Map<number, number>();
  let retryAfter: string | undefined;
  for (let i = 0; i < ATTACKS; i += 100) {
    const batch = await Promise.all(Array.from({ length: 100 }, (_, j) =>
      app.inject({ method: "GET", url: "/v1/jobs?state=failed", remoteAddress: attacker, headers: { authorization: `Bearer ${wrongToken(i + j)}` } })));
    for (const res of batch) {
      statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
      if (res.statusCode === 429) retryAfter ??= String(res.headers["retry-after"]);
    }
  }
  assert.deepEqual(Object.fromEntries(statuses), { 401: 10, 429: ATTACKS - 10 });
  assert.ok(Number(retryAfter) >= 1 && Number(retryAfter) <= 60, `Retry-After ${retryAfter}`);

  const other = await app.inject({ method: "GET", url: "/v1/jobs?state=failed", remoteAddress: "198.51.100.9", headers: h.auth });
  assert.equal(other.statusCode, 200, "the right token from another address");
  const same = await app.inject({ method: "GET", url: "/v1/jobs?state=failed", remoteAddress: attacker, headers: h.auth });
  assert.equal(same.statusCode, 429, "the attacker's address waits, whatever it sends");
  // The board shares the count: guessing there is guessing here.
  const board = await app.inject({ method: "GET", url: "/admin/queues", remoteAddress: attacker, headers: { authorization: "Bearer nope-nope-nope" } });
  assert.equal(board.statusCode, 429);

  await app.close();
  const lines = summaries(from);
  assert.equal(lines.length, 1, JSON.stringify(lines));
  const [line] = lines;
  assert.equal(line!.level, 40, "warn");
  assert.equal(line!.refused, 10);
  assert.equal(line!.throttled, ATTACKS - 10 + 2);
  assert.equal(line!.addresses, 1);
  assert.deepEqual(line!.top, [{ remoteAddress: attacker, refused: 10, throttled: ATTACKS - 8 }]);
  const text = h.logs.slice(from).join("\n");
  assert.ok(!text.includes("guess-0"), "no presented token is logged");
  // Not even access-log lines per attempt: the 10 refusals before the limit log theirs, the 429s do not.
  const attackerLines = h.logs.slice(from).filter((l) => l.includes(attacker));
  assert.ok(attackerLines.length <= 2 * 10 + 1, `${attackerLines.length} log lines name the attacker`);
});

test("3,000 wrong tokens over a real socket: 429s, a handful of warn lines, the right token works from 127.0.0.2", async () => {
  const { app, from } = await freshApp();
  await app.listen({ port: 0, host: "127.0.0.1" });
  const port = (app.server.address() as AddressInfo).port;
  const agent = new Agent({ keepAlive: true, maxSockets: 20 });
  const get = (authorization: string, localAddress = "127.0.0.1") =>
    new Promise<{ status: number; retryAfter?: string }>((resolve, reject) => {
      const req = httpRequest({ host: "127.0.0.1", port, path: "/v1/jobs", agent: localAddress === "127.0.0.1" ? agent : undefined, localAddress, headers: { authorization } }, (res) => {
        res.resume();
        res.on("end", () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers["retry-after"] as string | undefined }));
      });
      req.on("error", reject);
      req.end();
    });
  try {
    const counts = new Map<number, number>();
    for (let i = 0; i < ATTACKS; i += 50) {
      const batch = await Promise.all(Array.from({ length: 50 }, (_, j) => get(`Bearer ${wrongToken(i + j)}`)));
      for (const { status } of batch) counts.set(status, (counts.get(status) ?? 0) + 1);
    }
    assert.deepEqual(Object.fromEntries(counts), { 401: 10, 429: ATTACKS - 10 });
    assert.equal((await get(h.auth.authorization, "127.0.0.2")).status, 200, "another address is not held up");
    const held = await get(h.auth.authorization);
    assert.equal(held.status, 429);
    assert.match(held.retryAfter ?? "", /^\d+$/);
  } finally {
    agent.destroy();
    await app.close();
  }
  const lines = summaries(from);
  assert.ok(lines.length >= 1 && lines.length <= 3, `${lines.length} summary lines`);
  assert.equal(lines.reduce((n, l) => n + l.refused, 0), 10);
  assert.equal(lines.reduce((n, l) => n + l.throttled, 0), ATTACKS - 10 + 1);
  const warnLines = h.logs.slice(from).filter((l) => (JSON.parse(l) as { level: number }).level >= 40);
  assert.ok(warnLines.length <= 3, `${warnLines.length} warn lines for ${ATTACKS} attempts`);
  assert.ok(h.logs.length - from <= 40, `${h.logs.length - from} log lines in all for ${ATTACKS} attempts`);
});

test("requests without credentials are answered 401 but not counted against the address", async () => {
  const { app } = await freshApp();
  try {
    for (let i = 0; i < 25; i++) {
      const res = await app.inject({ method: "GET", url: "/v1/jobs", remoteAddress: "192.0.2.50" });
      assert.equal(res.statusCode, 401);
    }
    const ok = await app.inject({ method: "GET", url: "/v1/jobs", remoteAddress: "192.0.2.50", headers: h.auth });
    assert.equal(ok.statusCode, 200);
  } finally {
    await app.close();
  }
});

test("Basic is refused on /v1 even with the right token; the board takes Basic and Bearer", async () => {
  const basic = `Basic ${Buffer.from(`admin:${h.settings.adminToken}`).toString("base64")}`;
  let n = 0;
  const from = () => `192.0.2.${++n}`;
  for (const url of ["/v1/jobs", "/v1/projects/pw/smtp-config"]) {
    const res = await h.app.inject({ method: "GET", url, remoteAddress: from(), headers: { authorization: basic } });
    assert.equal(res.statusCode, 401, `${url}: ${res.body}`);
    assert.match(String(res.headers["www-authenticate"]), /^Bearer /);
  }
  for (const authorization of [basic, h.auth.authorization]) {
    const res = await h.app.inject({ method: "GET", url: "/admin/queues", remoteAddress: from(), headers: { authorization } });
    assert.equal(res.statusCode, 200, authorization.split(" ")[0]);
  }
});

test("the Authorization header must be one scheme and one token: anything after it is refused", async () => {
  const token = h.settings.adminToken;
  let n = 0;
  const status = async (authorization: string) =>
    (await h.app.inject({ method: "GET", url: "/v1/jobs", remoteAddress: `192.0.2.${100 + ++n}`, headers: { authorization } })).statusCode;
  for (const bad of [`Bearer ${token} garbage`, `Bearer ${token},Bearer x`, `Bearer ${token}\tx`, `Bearer${token}`, token, `Token ${token}`, `Bearer`, `Bearer ${token}x`]) {
    assert.equal(await status(bad), 401, JSON.stringify(bad));
  }
  for (const good of [`Bearer ${token}`, `bearer ${token}`, `BEARER  ${token} `]) assert.equal(await status(good), 200, JSON.stringify(good));
});

test("the board refuses a cross-origin change made with cached Basic credentials (403), and same-origin works", async () => {
  smtp.script.push({ at: "RCPT", code: 550, message: "5.1.1 <gone@example.com>: Recipient address rejected" });
  const [jobId] = await enqueue(h, { type: "incident", projectId: "pw", to: ["gone@example.com"], data: { incidentId: "1", title: "x", state: "created", severity: "minor" } });
  await waitForJobState(h, jobId!, ["failed"]);
  const basic = `Basic ${Buffer.from(`admin:${h.settings.adminToken}`).toString("base64")}`;
  const queues = await h.app.inject({ method: "GET", url: "/admin/queues/api/queues", headers: { authorization: basic } });
  const queue = encodeURIComponent((queues.json() as { queues: { name: string }[] }).queues[0]!.name);
  const retryUrl = `/admin/queues/api/queues/${queue}/${jobId}/retry`;
  const host = "notify.internal:3000";

  const forged = [
    { method: "PUT", url: retryUrl, headers: { origin: "https://evil.example", "sec-fetch-site": "cross-site" } },
    { method: "PUT", url: retryUrl, headers: { origin: "https://evil.example" } },
    { method: "PUT", url: retryUrl, headers: { origin: "null" } },
    { method: "PUT", url: retryUrl, headers: { origin: `http://${host}`, "sec-fetch-site": "same-site" } },
    // The classic form post: no preflight, form-encoded body.
    { method: "POST", url: `/admin/queues/api/queues/${queue}/add`, headers: { origin: "https://evil.example", "content-type": "application/x-www-form-urlencoded" }, payload: "name=x&data=%7B%7D" },
  ] as const;
  for (const { method, url, headers, ...rest } of forged) {
    const res = await h.app.inject({ method, url, headers: { ...headers, host, authorization: basic }, ...("payload" in rest ? { payload: rest.payload } : {}) });
    assert.equal(res.statusCode, 403, `${method} ${JSON.stringify(headers)}: ${res.body}`);
    assert.equal((res.json() as { error: { code: string } }).error.code, "cross_origin_refused");
  }
  // The form post the review used: /v1's retry with the browser's cached Basic credentials.
  const viaV1 = await h.app.inject({ method: "POST", url: `/v1/jobs/${jobId}/retry`, remoteAddress: "192.0.2.200",
    headers: { host, origin: "https://evil.example", authorization: basic, "content-type": "application/x-www-form-urlencoded" }, payload: "" });
  assert.equal(viaV1.statusCode, 401, viaV1.body);
  assert.equal((await waitForJobState(h, jobId!, ["failed"])).state, "failed", "the forged retries did nothing");

  const received = smtp.received.length;
  const ok = await h.app.inject({ method: "PUT", url: retryUrl, headers: { host, origin: `http://${host}`, "sec-fetch-site": "same-origin", authorization: basic } });
  assert.equal(ok.statusCode, 204, ok.body);
  await waitForJobState(h, jobId!, ["completed"]);
  assert.equal(smtp.received.length, received + 1);
  // Reads stay open to any origin (they change nothing), and scripts without browser headers may change.
  const read = await h.app.inject({ method: "GET", url: "/admin/queues/api/queues", headers: { origin: "https://evil.example", authorization: basic } });
  assert.equal(read.statusCode, 200);
});

test("a credential in a query string never reaches the log verbatim", async () => {
  const secrets = ["qs-token-9f8e7d6c5b", "qs-access-1a2b3c4d5e", "qs-pass-0z9y8x7w"];
  const from = h.logs.length;
  const urls = [`/v1/jobs?state=failed&token=${secrets[0]}`, `/healthz?access_token=${secrets[1]}`, `/nope?password=${secrets[2]}&x=1`];
  for (const url of urls) await h.app.inject({ method: "GET", url, headers: h.auth });
  const text = h.logs.slice(from).join("\n");
  for (const secret of secrets) assert.ok(!text.includes(secret), `${secret} was logged`);
  assert.match(text, /"url":"\/v1\/jobs\?state=failed&token=\[redacted\]"/);
  assert.match(text, /"url":"\/healthz\?access_token=\[redacted\]"/);
  assert.match(text, /"url":"\/nope\?password=\[redacted\]&x=1"/);
});
