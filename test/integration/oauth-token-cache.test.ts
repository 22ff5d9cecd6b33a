// The Redis-shared OAuth token cache (src/oauth/token-cache.ts) through the real delivery path:
// worker → token cache → local token server (client credentials) → SMTP server that checks
// SASL XOAUTH2 against the tokens that server issued.
//
// - three worker processes racing for the first token of one config: one request in all;
// - a short-lived token refreshed ahead of expiry while mail keeps flowing;
// - a token the SMTP server revokes, answered the Gmail way (334 challenge: nodemailer renews
//   through our provisionCallback) and the Microsoft 365 way (direct 535: our deliverer
//   invalidates and retries once);
// - a second 535 is permanent;
// - a config change drops the project's cached tokens;
// - the copy in Redis is sealed.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHarness, eventually, getJob, waitForJobState, type Harness } from "../helpers/harness.ts";
import { startTestSmtpServer, type AuthAttempt, type TestSmtpServer, type TestSmtpServerOptions } from "../helpers/smtp-server.ts";
import { startTokenServer, type TestTokenServer, type TokenServerOptions } from "../helpers/token-server.ts";
import { childWorkerEnv, startChildWorker, writeTestCaFile, type CaFile, type ChildWorker } from "../helpers/child-worker.ts";
import { open } from "../../src/crypto/seal.ts";
import type { TokenObserver } from "../../src/oauth/token-cache.ts";

const CLIENT_ID = "app-token-cache";
const CLIENT_SECRET = "cs-token-cache-secret-v1";
const SCOPE = "https://outlook.office365.com/.default";

/** What the in-process token cache reported, in order (see TokenObserver). */
const tokenEvents: { kind: "hit" | "miss" | "wait" | "request"; outcome?: string; at: number }[] = [];
const observer: TokenObserver = {
  hit: () => void tokenEvents.push({ kind: "hit", at: Date.now() }),
  miss: () => void tokenEvents.push({ kind: "miss", at: Date.now() }),
  wait: () => void tokenEvents.push({ kind: "wait", at: Date.now() }),
  request: (outcome) => void tokenEvents.push({ kind: "request", outcome, at: Date.now() }),
};

/** The in-process worker's harness (every test but the multi-process one). */
let h: Harness;
/** API-only harness whose jobs only the child worker processes take. */
let hp: Harness | undefined;
let ca: CaFile | undefined;
const children: ChildWorker[] = [];
const servers: { close(): Promise<void> }[] = [];

before(async () => {
  h = await createHarness("oauth-token-cache", {
    delivery: {
      tokenObserver: observer,
      // Connections recycle after 3 messages, so new connections keep authenticating (and
      // asking the cache for a token) while mail flows.
      transport: { maxMessages: 3 },
    },
  });
});

after(async () => {
  // Children first, whatever happened: nothing may keep running against a prefix.
  await Promise.all(children.map((c) => c.kill("SIGKILL")));
  await hp?.close();
  await h?.close();
  // After the harnesses (their pooled connections are closed), so no server waits for them.
  await Promise.all(servers.map((s) => s.close()));
  ca?.remove();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

/** A token server accepting our client and an SMTP server checking XOAUTH2 against it. */
async function peers(tokenOptions: Partial<TokenServerOptions> = {}, smtpOptions: Partial<TestSmtpServerOptions> = {}): Promise<{ tokens: TestTokenServer; smtp: TestSmtpServer }> {
  const tokens = await startTokenServer({ client: { id: CLIENT_ID, secret: CLIENT_SECRET }, ...tokenOptions });
  servers.push(tokens);
  const smtp = await startTestSmtpServer({ xoauth2: (user, token) => tokens.isValid(user, token), ...smtpOptions });
  servers.push(smtp);
  return { tokens, smtp };
}

async function putOAuthConfig(hh: Harness, projectId: string, smtp: TestSmtpServer, tokens: TestTokenServer, extra: { clientSecret?: string; fromName?: string } = {}): Promise<void> {
  const res = await hh.app.inject({
    method: "PUT",
    url: `/v1/projects/${projectId}/smtp-config`,
    headers: hh.auth,
    payload: {
      host: "localhost", port: smtp.port, secure: true, fromEmail: `alerts@${projectId}.example.com`,
      ...(extra.fromName ? { fromName: extra.fromName } : {}),
      auth: { type: "oauth", clientId: CLIENT_ID, clientSecret: extra.clientSecret ?? CLIENT_SECRET, tokenUrl: tokens.url, scope: SCOPE },
    },
  });
  assert.equal(res.statusCode, 200, res.body);
}

async function enqueue(hh: Harness, projectId: string, to: string[], title: string): Promise<{ id: string; to: string }[]> {
  const res = await hh.app.inject({
    method: "POST",
    url: "/v1/emails",
    headers: hh.auth,
    payload: { type: "alert", projectId, to, data: { alertId: title, title, state: "created", severity: "high" } },
  });
  assert.equal(res.statusCode, 202, res.body);
  const { jobs } = res.json() as { jobs: { id: string; to: string }[] };
  assert.equal(jobs.length, to.length);
  return jobs;
}

/** Enqueues one email and waits until its job completed. */
async function deliverOne(projectId: string, to: string, title: string): Promise<void> {
  const [job] = await enqueue(h, projectId, [to], title);
  await waitForJobState(h, job!.id, ["completed"], 20_000);
}

function xoauth2Attempts(smtp: TestSmtpServer): AuthAttempt[] {
  return smtp.authAttempts.filter((a) => a.method === "XOAUTH2");
}

/** Waits until every job is completed; fails at once if one failed. */
async function allCompleted(hh: Harness, jobs: { id: string }[], timeoutMs: number): Promise<void> {
  const queue = hh.services.producer.queue;
  await eventually(async () => {
    const states = await Promise.all(jobs.map((j) => queue.getJobState(j.id)));
    const failed = jobs.filter((_, i) => states[i] === "failed");
    if (failed.length > 0) throw new Error(`${failed.length} job(s) failed, e.g. ${JSON.stringify(await getJob(hh, failed[0]!.id))}`);
    if (states.every((s) => s === "completed")) return true;
    await sleep(100); // hundreds of jobs: no need to ask Redis every 25 ms
    return undefined;
  }, timeoutMs, `all ${jobs.length} jobs to be completed`);
}

/** Every `<prefix>:token:*` key (SCAN, never KEYS). */
async function scanTokenKeys(hh: Harness): Promise<string[]> {
  const pattern = `${hh.settings.prefix.replace(/[*?[\]\\]/g, "\\$&")}:token:*`;
  const found: string[] = [];
  let cursor = "0";
  do {
    const [next, keys] = await hh.services.redis.scan(cursor, "MATCH", pattern, "COUNT", 1000);
    cursor = next;
    found.push(...keys);
  } while (cursor !== "0");
  return found;
}

/** The token keys the project's index names (`<prefix>:token-index:<projectId>`). */
async function indexedTokenKeys(hh: Harness, projectId: string): Promise<{ id: string; key: string }[]> {
  const ids = await hh.services.redis.smembers(hh.services.keys.tokenIndex(projectId));
  return ids.map((id) => ({ id, key: hh.services.keys.token(id) }));
}

test("three worker processes race for the first token of one config: 300 jobs delivered, ONE token request", async (t) => {
  hp = await createHarness("oauth-token-cache-mp", { worker: false });
  ca = writeTestCaFile();
  // A slow token endpoint: the first fetch takes > 300 ms, so the other processes really find
  // the lock taken and must wait for the token in Redis instead of fetching their own.
  const { tokens, smtp } = await peers({ delayMs: 300 });
  const project = "fleet";
  await putOAuthConfig(hp, project, smtp, tokens);

  // Ready before anything is enqueued (LOG_LEVEL debug: each child logs "sent" with the job id).
  const spawned = await Promise.all(
    ["a", "b", "c"].map(async (n) => {
      const child = await startChildWorker({ name: `worker-${n}`, env: childWorkerEnv(hp!.childEnv, ca!.path, { LOG_LEVEL: "debug" }) }, 60_000);
      children.push(child);
      return child;
    }),
  );
  assert.equal(new Set(spawned.map((c) => c.pid)).size, 3, "three separate OS processes");
  assert.equal(tokens.requests.length, 0, "no worker asks for a token before it has a job");

  const recipients = Array.from({ length: 300 }, (_, i) => `fleet${String(i).padStart(3, "0")}@example.com`);
  const jobs = await enqueue(hp, project, recipients, "fleet-alert");
  assert.equal(new Set(jobs.map((j) => j.id)).size, 300);

  // A message is recorded by the SMTP server before its 250, so before its job can complete.
  await allCompleted(hp, jobs, 120_000);
  assert.equal(smtp.received.length, 300, "each email exactly once");
  assert.deepEqual(new Set(smtp.received.flatMap((r) => r.to)), new Set(recipients));

  // The heart of it: one request for the whole fleet (every send needed the token first, so a
  // second request would have been recorded before its job could complete).
  assert.equal(tokens.requests.length, 1, `token requests: ${JSON.stringify(tokens.requests)}`);
  assert.equal(tokens.requests[0]!.status, 200);
  assert.equal(tokens.requests[0]!.clientAuth, "post");
  const [only] = tokens.issued;
  const logins = xoauth2Attempts(smtp);
  assert.ok(logins.length >= 3, `at least one XOAUTH2 login per process, got ${logins.length}`);
  assert.deepEqual(logins.filter((a) => !a.ok || a.token !== only!.token), [], "every login used the one token and succeeded");

  // All three processes took part (each sent mail, so each got the token: two of them from Redis).
  const sentBy = (c: ChildWorker) => new Set(c.logs().filter((l) => l.msg === "sent" && typeof l.jobId === "string").map((l) => l.jobId as string));
  await eventually(() => (spawned.reduce((n, c) => n + sentBy(c).size, 0) >= 300 ? true : undefined), 15_000, "every child's sent lines");
  for (const c of spawned) {
    assert.ok(sentBy(c).size > 0, `${c.name} sent nothing: ${spawned.map((x) => `${x.name}=${sentBy(x).size}`).join(", ")}`);
    assert.equal(c.exit, undefined, c.describe());
    // The start-up notice that projects without a config have nowhere to go is expected here.
    const warnings = c.logs().filter((l) => typeof l.level === "number" && l.level >= 40 && !l.msg?.startsWith("nothing will be delivered to projects without their own SMTP config"));
    assert.deepEqual(warnings, [], c.describe());
  }
  t.diagnostic(`sent per process: ${spawned.map((c) => `${c.name}=${sentBy(c).size}`).join(", ")}`);

  await Promise.all(spawned.map((c) => c.kill("SIGTERM")));
});

test("a token expiring mid-run is refreshed ahead of expiry: every job completes, exactly 2 token requests", async () => {
  // The cache's arithmetic (token-cache.ts fetchAndStore): lifetime L = expires_in; usable
  // U = L − min(max(60 s, 10 % L), 50 % L); refresh at 75 % of U, counted from when the fetch
  // started. For a 6 s token: U = 6 − min(60, 3) = 3 s, refresh at 2.25 s.
  // Request 1 at A (first send). The first send at or after A + 2.25 s starts a background
  // refresh: request 2 at B ≥ A + 2.25 s (while T1 is still usable, since a batch goes out
  // every 200 ms). Request 3 could come no earlier than B + 2.25 s ≥ A + 4.5 s, and the last
  // batch is enqueued at A + 3.4 s (past T1's usable end at A + 3 s), so exactly 2 requests;
  // the 1.1 s between 3.4 s and 4.5 s is the margin for worker latency.
  const { tokens, smtp } = await peers({ expiresIn: 6 });
  const project = "short-lived";
  await putOAuthConfig(h, project, smtp, tokens);
  tokenEvents.length = 0;

  const WINDOW_MS = 3400;
  const TICK_MS = 200;
  const jobs: { id: string }[] = [];
  let batch = 0;
  const send = async () => {
    const to = Array.from({ length: 5 }, (_, i) => `tick${batch}-${i}@example.com`);
    jobs.push(...(await enqueue(h, project, to, `tick-${batch}`)));
    batch++;
  };
  await send();
  const first = await eventually(() => tokens.requests[0], 10_000, "the first token request");
  for (let k = 1; TICK_MS * k <= WINDOW_MS; k++) {
    await sleep(first.at + TICK_MS * k - Date.now());
    await send();
  }
  assert.ok(batch >= 15, `${batch} batches`);
  await allCompleted(h, jobs, 30_000);
  assert.equal(smtp.received.length, jobs.length);

  assert.equal(tokens.requests.length, 2, `token requests at +ms: ${tokens.requests.map((r) => r.at - first.at).join(", ")}`);
  assert.ok(tokens.requests.every((r) => r.status === 200));
  const [t1, t2] = tokens.issued.map((i) => i.token);
  assert.ok(t1 && t2 && t1 !== t2);
  // Not refreshed before its time (refresh at 2.25 s after the first fetch started).
  assert.ok(tokens.requests[1]!.at - first.at >= 2000, `refreshed after ${tokens.requests[1]!.at - first.at} ms`);

  // Ahead of expiry, in the background: once the first token was there, no send missed the
  // cache (a miss would mean a send waited for a token), and this one process never waited.
  const firstFetched = tokenEvents.find((e) => e.kind === "request");
  assert.ok(firstFetched);
  assert.deepEqual(tokenEvents.filter((e) => e.kind === "miss" && e.at > firstFetched.at), [], "a send waited for a token after the first one");
  assert.deepEqual(tokenEvents.filter((e) => e.kind === "wait"), []);
  assert.deepEqual(tokenEvents.filter((e) => e.kind === "request").map((e) => e.outcome), ["ok", "ok"]);

  // Connections opened after the refresh authenticated with the new token (connections recycle
  // every 3 messages, and far more than 5 × 3 messages went out after the refresh).
  const logins = xoauth2Attempts(smtp);
  assert.deepEqual(logins.filter((a) => !a.ok), [], "no XOAUTH2 login failed");
  assert.deepEqual(new Set(logins.map((a) => a.token)), new Set([t1, t2]));
});

for (const mode of ["challenge", "535"] as const) {
  const how = mode === "challenge" ? "334 challenge: nodemailer renews through the provisionCallback" : "direct 535 5.7.3: the deliverer invalidates and retries once";
  test(`the SMTP server revokes a token (${how}): delivered with a fresh one, 2 token requests`, async () => {
    const { tokens, smtp } = await peers({}, { xoauth2Failure: mode });
    const project = `revoke-${mode}`;
    await putOAuthConfig(h, project, smtp, tokens);

    await deliverOne(project, "one@example.com", "first");
    assert.equal(tokens.requests.length, 1);
    const t1 = tokens.issued[0]!.token;
    assert.deepEqual(xoauth2Attempts(smtp).map((a) => [a.token, a.ok]), [[t1, true]]);

    tokens.revoked.add(t1);
    // The pooled connection is still authenticated with T1: close it, so the next send logs in again.
    h.delivery!.transports.closeProject(project);
    const [second] = await enqueue(h, project, ["two@example.com"], "second");
    const done = await waitForJobState(h, second!.id, ["completed"], 20_000);
    // One job attempt: the renewal (either way) happens inside it, not as a BullMQ retry.
    assert.equal(done.attempts, 1, JSON.stringify(done));

    assert.equal(tokens.requests.length, 2, "the first token and one fresh one");
    const t2 = tokens.issued[1]!.token;
    assert.notEqual(t2, t1);
    const logins = xoauth2Attempts(smtp).slice(1);
    assert.deepEqual(logins.map((a) => [a.token, a.ok]), [[t1, false], [t2, true]], "one failed login with T1, then success with T2");
    if (mode === "challenge") {
      assert.equal(logins[1]!.sessionId, logins[0]!.sessionId, "nodemailer renewed within the same connection");
    } else {
      assert.notEqual(logins[1]!.sessionId, logins[0]!.sessionId, "the deliverer retried on a new connection");
    }
    assert.deepEqual(smtp.received.map((r) => r.to), [["one@example.com"], ["two@example.com"]]);
  });
}

test("a second 535 is permanent: the job fails at once with the reason and the SMTP.SendAsApp hint; 2 token requests", async () => {
  // Microsoft 365 without SMTP.SendAsApp / mailbox permission: every token is refused, at once.
  const { tokens, smtp } = await peers({}, { xoauth2: () => false, xoauth2Failure: "535" });
  const project = "no-sendas";
  await putOAuthConfig(h, project, smtp, tokens);

  const [job] = await enqueue(h, project, ["ops@example.com"], "refused");
  const failed = await waitForJobState(h, job!.id, ["failed"], 20_000);
  assert.equal(failed.attempts, 1, JSON.stringify(failed));
  const bull = await h.services.producer.queue.getJob(job!.id);
  assert.ok(bull);
  assert.equal(bull.attemptsMade, 1);
  assert.ok((bull.opts.attempts ?? 1) > 1, "retries were allowed: it failed at once because it is permanent, not because attempts ran out");
  assert.equal(await bull.getState(), "failed");

  const reason = failed.failedReason ?? "";
  assert.ok(reason.includes("[auth]"), reason);
  assert.ok(reason.includes("535"), reason);
  assert.match(reason, /SMTP\.SendAsApp/);

  assert.equal(tokens.requests.length, 2, "the initial token and one fresh one after the first 535");
  const [t1, t2] = tokens.issued.map((i) => i.token);
  assert.ok(t1 && t2 && t1 !== t2);
  for (const token of [t1, t2]) assert.ok(!reason.includes(token), "no token in the job's reason");
  assert.deepEqual(xoauth2Attempts(smtp).map((a) => [a.token, a.ok]), [[t1, false], [t2, false]]);
  assert.equal(smtp.received.length, 0);
});

test("changing a project's config (new clientSecret) drops its cached token; the next email fetches with the new secret", async () => {
  const { tokens, smtp } = await peers();
  const project = "rotate";
  await putOAuthConfig(h, project, smtp, tokens);
  await deliverOne(project, "before@example.com", "before");
  assert.equal(tokens.requests.length, 1);
  const old = await indexedTokenKeys(h, project);
  assert.equal(old.length, 1);
  assert.ok((await scanTokenKeys(h)).includes(old[0]!.key), "the sealed token is in Redis");

  // The secret is rotated at the provider: from now on only the new one is accepted.
  const NEW_SECRET = "cs-token-cache-secret-v2";
  tokens.options.client = { id: CLIENT_ID, secret: NEW_SECRET };
  await putOAuthConfig(h, project, smtp, tokens, { clientSecret: NEW_SECRET });
  await eventually(async () => ((await scanTokenKeys(h)).includes(old[0]!.key) ? undefined : true), 10_000, "the old token key to disappear");
  assert.deepEqual(await indexedTokenKeys(h, project), [], "the project's token index is gone too");

  await deliverOne(project, "after@example.com", "after");
  assert.equal(tokens.requests.length, 2, "a new token request for the new config");
  assert.equal(tokens.requests[0]!.form.client_secret, CLIENT_SECRET);
  assert.equal(tokens.requests[1]!.form.client_secret, NEW_SECRET, "made with the new secret");
  assert.equal(tokens.requests[1]!.status, 200);
  const fresh = await indexedTokenKeys(h, project);
  assert.equal(fresh.length, 1);
  assert.notEqual(fresh[0]!.key, old[0]!.key, "a new cache key (the secret is part of it)");
  const keysNow = await scanTokenKeys(h);
  assert.ok(keysNow.includes(fresh[0]!.key));
  assert.ok(!keysNow.includes(old[0]!.key), "the old token did not come back");
  const t2 = tokens.issued[1]!.token;
  assert.deepEqual(xoauth2Attempts(smtp).slice(1).map((a) => [a.token, a.ok]), [[t2, true]]);
});

test("re-saving a config with the same credentials also drops the cached token (here and in Redis)", async () => {
  const { tokens, smtp } = await peers();
  const project = "resave";
  await putOAuthConfig(h, project, smtp, tokens);
  await deliverOne(project, "before@example.com", "before");
  const [entry] = await indexedTokenKeys(h, project);
  assert.ok(entry);
  const sealedBefore = await h.services.redis.get(entry.key);
  assert.ok(sealedBefore);

  // Same token URL, client, secret, scope and user: the same cache key. Only the local copy
  // being dropped too can make the next send ask the provider again.
  await putOAuthConfig(h, project, smtp, tokens, { fromName: "Resaved" });
  await eventually(async () => ((await h.services.redis.exists(entry.key)) === 0 ? true : undefined), 10_000, "the token key to be dropped");

  await deliverOne(project, "after@example.com", "after");
  assert.equal(tokens.requests.length, 2);
  const sealedAfter = await h.services.redis.get(entry.key);
  assert.ok(sealedAfter, "the same key holds the new token");
  assert.notEqual(sealedAfter, sealedBefore);
  assert.equal((JSON.parse(open(h.settings.masterKey, sealedAfter, `token:${entry.id}`)) as { token: string }).token, tokens.issued[1]!.token);
});

test("Redis holds the token sealed (v1 envelope, no token text), with a TTL of its usable life", async () => {
  const { tokens, smtp } = await peers();
  const project = "sealed";
  await putOAuthConfig(h, project, smtp, tokens);
  await deliverOne(project, "sealed@example.com", "sealed");
  const issued = tokens.issued[0]!.token;

  const entries = await indexedTokenKeys(h, project);
  assert.equal(entries.length, 1);
  const [{ id, key }] = entries as [{ id: string; key: string }];
  assert.ok((await scanTokenKeys(h)).includes(key));
  const value = await h.services.redis.get(key);
  assert.ok(value);
  assert.ok(value.startsWith("v1."), value.slice(0, 20));
  assert.ok(!value.includes(issued), "the token in clear");
  for (const encoding of ["base64", "base64url", "hex"] as const) {
    assert.ok(!value.includes(Buffer.from(issued).toString(encoding)), `the token in ${encoding}`);
  }
  // …and it really is this token, sealed with the master key and bound to its key.
  const opened = JSON.parse(open(h.settings.masterKey, value, `token:${id}`)) as { token: string; expiresAt: number; refreshAt: number };
  assert.equal(opened.token, issued);
  assert.throws(() => open(h.settings.masterKey, value, "token:another-id"), "the envelope is bound to its key id");

  // 3600 s token: usable 3600 − min(max(60, 360), 1800) = 3240 s, and Redis forgets it then.
  const pttl = await h.services.redis.pttl(key);
  assert.ok(pttl > 3_200_000 && pttl <= 3_240_000, `PTTL ${pttl}`);
  assert.ok(opened.refreshAt < opened.expiresAt);
});
