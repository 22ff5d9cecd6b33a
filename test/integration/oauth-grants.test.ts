// OAuth 2.0 sending end to end: both grants (client credentials with client_secret_post and
// client_secret_basic; Google-style JWT bearer from a bare PEM and from a service-account JSON
// key) against token servers that verify what they receive, an SMTP server that checks the
// XOAUTH2 token, and the failure paths (bad key at PUT, invalid_client, 503 + Retry-After).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { createHarness, eventually, waitForJobState, type Harness, enqueue } from "../helpers/harness.ts";
import { startTestSmtpServer, type TestSmtpServer } from "../helpers/smtp-server.ts";
import { startTokenServer, type TestTokenServer } from "../helpers/token-server.ts";
import { dumpPrefix } from "../helpers/redis-dump.ts";

const hex = randomBytes(6).toString("hex");
const OUTLOOK = "https://outlook.office365.com/.default";
const GMAIL = "https://mail.google.com/";
const MS_SECRET = `ms-secret-${hex}`;
const BASIC_ID = "basic app";
const BASIC_SECRET = `a+b/c=d:e%-${hex}`;
const WRONG_SECRET = `wrong-secret-${hex}`;
const FLAKY_SECRET = `flaky-secret-${hex}`;
const SA_EMAIL = "mailer@proj-1.iam.gserviceaccount.test";
const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
const PEM = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
/** A 64-character base64 line from the middle of the private key: key material if it shows up anywhere. */
const PEM_MARK = PEM.split("\n")[8]!;

let h: Harness;
let smtp: TestSmtpServer;
let ms: TestTokenServer;
let basic: TestTokenServer;
let google: TestTokenServer;
let strict: TestTokenServer;
let flaky: TestTokenServer;
/** Every XOAUTH2 login the SMTP server saw, with the token it was given. */
const seen: { user: string; token: string }[] = [];
const jobIds: string[] = [];
const apiAnswers: string[] = [];
const changed = new Set<string>();

before(async () => {
  ms = await startTokenServer({ client: { id: "ms-app", secret: MS_SECRET, auth: "post" } });
  basic = await startTokenServer({ client: { id: BASIC_ID, secret: BASIC_SECRET, auth: "basic" } });
  google = await startTokenServer({ serviceAccount: { email: SA_EMAIL, publicKey } });
  strict = await startTokenServer({ client: { id: "ms-app", secret: `the-current-secret-${hex}` } });
  flaky = await startTokenServer({ client: { id: "flaky-app", secret: FLAKY_SECRET } });
  const servers = [ms, basic, google, strict, flaky];
  smtp = await startTestSmtpServer({
    xoauth2: (user, token) => {
      seen.push({ user, token });
      return servers.some((s) => s.isValid(user, token));
    },
  });
  h = await createHarness("oauth-grants");
  h.delivery!.resolver.onChange((projectId) => changed.add(projectId));
});

after(async () => {
  await h.close();
  await smtp.close();
  for (const s of [ms, basic, google, strict, flaky]) await s.close();
});

async function putConfig(projectId: string, fromEmail: string, auth: Record<string, unknown>) {
  changed.delete(projectId);
  const res = await h.app.inject({ method: "PUT", url: `/v1/projects/${projectId}/smtp-config`, headers: h.auth,
    payload: { host: "localhost", port: smtp.port, fromEmail, auth: { type: "oauth", ...auth } } });
  apiAnswers.push(res.body);
  return res;
}

async function configure(projectId: string, fromEmail: string, auth: Record<string, unknown>): Promise<void> {
  const res = await putConfig(projectId, fromEmail, auth);
  assert.equal(res.statusCode, 200, res.body);
  // The worker has heard of the change (which drops cached tokens and remembered errors).
  await eventually(() => (changed.has(projectId) ? true : undefined), 5000, `config change of ${projectId}`);
}

async function enqueueAlert(projectId: string, to: string[]): Promise<string[]> {
  const ids = await enqueue(h, { type: "alert", projectId, to, data: { alertId: "7", title: "Disk full", state: "created", severity: "high" } });
  jobIds.push(...ids);
  return ids;
}

/** Delivers one email and checks the SMTP side: the XOAUTH2 user and exactly the token `server` issued. */
async function deliverOne(projectId: string, to: string, user: string, server: TestTokenServer): Promise<void> {
  const issuedBefore = server.issued.length;
  const [id] = await enqueueAlert(projectId, [to]);
  const job = await waitForJobState(h, id!, ["completed"]);
  const mail = smtp.received.find((m) => m.to.includes(to));
  assert.ok(mail, `the SMTP server received the email to ${to}`);
  assert.equal(mail.user, user, "the session was authenticated as the configured mailbox");
  assert.equal(job.result?.messageId, mail.mail.messageId);
  assert.equal(server.issued.length, issuedBefore + 1, "one token was issued for this config");
  const token = server.issued.at(-1)!.token;
  const logins = seen.filter((s) => s.token === token);
  assert.ok(logins.length >= 1, "the issued token was presented over XOAUTH2");
  assert.deepEqual(new Set(logins.map((s) => s.user)), new Set([user]));
}

test("Microsoft-style client credentials (client_secret_post): delivered with the issued token", async () => {
  await configure("ms", "alerts@contoso.test", { clientId: "ms-app", clientSecret: MS_SECRET, tokenUrl: ms.url, scope: OUTLOOK });
  await deliverOne("ms", "ms-1@example.com", "alerts@contoso.test", ms);
  assert.equal(ms.requests.length, 1);
  const r = ms.requests[0]!;
  assert.equal(r.status, 200);
  assert.equal(r.clientAuth, "post");
  assert.deepEqual(r.form, { grant_type: "client_credentials", scope: OUTLOOK, client_id: "ms-app", client_secret: MS_SECRET });
  assert.equal(r.authorization, undefined, "no Basic header alongside client_secret_post");
});

test("client_secret_basic: id and secret form-encoded into the Basic header, not in the body", async () => {
  await configure("basic", "alerts@fabrikam.test", { clientId: BASIC_ID, clientSecret: BASIC_SECRET, tokenUrl: basic.url, scope: OUTLOOK, tokenEndpointAuth: "client_secret_basic" });
  await deliverOne("basic", "basic-1@example.com", "alerts@fabrikam.test", basic);
  assert.equal(basic.requests.length, 1);
  const r = basic.requests[0]!;
  assert.equal(r.status, 200);
  assert.equal(r.clientAuth, "basic");
  assert.deepEqual(r.form, { grant_type: "client_credentials", scope: OUTLOOK });
  const decoded = Buffer.from((r.authorization ?? "").replace(/^Basic /, ""), "base64").toString("utf8");
  assert.equal(decoded, `basic+app:${encodeURIComponent(BASIC_SECRET)}`, "RFC 6749 §2.3.1 form-encoding of both parts");
});

test("JWT bearer with a bare PEM: a verified assertion for auth.user; XOAUTH2 as that mailbox", async () => {
  const before = google.requests.length;
  await configure("g-pem", "noreply@corp.test", { clientId: SA_EMAIL, clientSecret: PEM, tokenUrl: google.url, scope: GMAIL, user: "boss@corp.test" });
  await deliverOne("g-pem", "g-pem@example.com", "boss@corp.test", google);
  assert.equal(google.requests.length, before + 1);
  const r = google.requests.at(-1)!;
  assert.equal(r.status, 200, "the token server verified the assertion's signature and claims");
  assert.equal(r.grantType, "urn:ietf:params:oauth:grant-type:jwt-bearer");
  const p = r.assertion!.payload;
  assert.equal(p.iss, SA_EMAIL);
  assert.equal(p.sub, "boss@corp.test");
  assert.equal(p.aud, google.url);
  assert.equal(p.scope, GMAIL);
  assert.ok(p.exp! - p.iat! > 0 && p.exp! - p.iat! <= 3600, `exp - iat = ${p.exp! - p.iat!}`);
  assert.equal(r.assertion!.kid, undefined);
});

test("JWT bearer with a service-account JSON key: token URL from token_uri, kid from private_key_id, sub = fromEmail", async () => {
  const keyFile = JSON.stringify({ type: "service_account", project_id: "proj-1", private_key_id: "kid-123", private_key: PEM,
    client_email: SA_EMAIL, client_id: "1234567890", token_uri: google.url });
  const before = google.requests.length;
  await configure("g-json", "ops@corp.test", { clientSecret: keyFile, scope: GMAIL });
  const stored = await h.app.inject({ method: "GET", url: "/v1/projects/g-json/smtp-config", headers: h.auth });
  apiAnswers.push(stored.body);
  const auth = (stored.json() as { auth: Record<string, string> }).auth;
  assert.equal(auth.tokenUrl, google.url);
  assert.equal(auth.clientSecret, "[redacted]");
  await deliverOne("g-json", "g-json@example.com", "ops@corp.test", google);
  assert.equal(google.requests.length, before + 1);
  const r = google.requests.at(-1)!;
  assert.equal(r.status, 200);
  const p = r.assertion!.payload;
  assert.deepEqual([p.iss, p.sub, p.aud, p.scope], [SA_EMAIL, "ops@corp.test", google.url, GMAIL]);
  assert.ok(p.exp! - p.iat! > 0 && p.exp! - p.iat! <= 3600);
  assert.equal(r.assertion!.kid, "kid-123");
});

const BROKEN_PEM = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC-this-is-not-a-key\n-----END PRIVATE KEY-----\n";
const NO_KEY_FILE = JSON.stringify({ type: "service_account", private_key_id: "kid-9", client_email: SA_EMAIL, token_uri: "http://127.0.0.1:9/token" });

/** PUT must answer 400 naming auth.clientSecret, and store nothing. */
async function assertRefusedKey(projectId: string, auth: Record<string, unknown>): Promise<void> {
  const res = await putConfig(projectId, "ops@corp.test", auth);
  assert.equal(res.statusCode, 400, `${projectId}: ${res.body}`);
  const fields = (res.json() as { error: { details: { field: string }[] } }).error.details.map((d) => d.field);
  assert.ok(fields.includes("auth.clientSecret"), `${projectId}: fields ${fields.join(", ")}`);
  const get = await h.app.inject({ method: "GET", url: `/v1/projects/${projectId}/smtp-config`, headers: h.auth });
  assert.equal(get.statusCode, 404, `${projectId}: nothing stored`);
}

test("a malformed key is refused at PUT (400, field auth.clientSecret) and nothing is stored", async () => {
  await assertRefusedKey("bad-pem", { grant: "jwt_bearer", clientId: SA_EMAIL, clientSecret: BROKEN_PEM, tokenUrl: google.url, scope: GMAIL });
  await assertRefusedKey("bad-pem-detected", { clientId: SA_EMAIL, clientSecret: BROKEN_PEM, tokenUrl: google.url, scope: GMAIL });
  await assertRefusedKey("bad-json", { grant: "jwt_bearer", clientSecret: NO_KEY_FILE, scope: GMAIL });
});

test("RSA keys under 2048 bits are refused at PUT with the key size; a stored one fails the job at once, at stage config", async () => {
  for (const bits of [512, 1024]) {
    const short = generateKeyPairSync("rsa", { modulusLength: bits }).privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    const projectId = `short-${bits}`;
    await assertRefusedKey(projectId, { clientId: SA_EMAIL, clientSecret: short, tokenUrl: google.url, scope: GMAIL });
    const res = await putConfig(projectId, "ops@corp.test", { clientId: SA_EMAIL, clientSecret: short, tokenUrl: google.url, scope: GMAIL });
    const detail = (res.json() as { error: { details: { field: string; message: string }[] } }).error.details.find((d) => d.field === "auth.clientSecret");
    assert.match(detail?.message ?? "", new RegExp(`${bits} bits; at least 2048`));
    const keyFile = JSON.stringify({ type: "service_account", client_email: SA_EMAIL, private_key: short, token_uri: google.url });
    await assertRefusedKey(`${projectId}-file`, { clientSecret: keyFile, scope: GMAIL });
  }
  // One saved before the rule (stored directly, past PUT): refused at send time, not used.
  const short = generateKeyPairSync("rsa", { modulusLength: 512 }).privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  await h.services.store.put("short-stored", { host: "localhost", port: smtp.port, secure: true, fromEmail: "ops@corp.test", auth: { type: "oauth", grant: "jwt_bearer", clientId: SA_EMAIL, clientSecret: short, tokenUrl: google.url, scope: GMAIL } });
  const requestsBefore = google.requests.length;
  const [id] = await enqueueAlert("short-stored", ["short@corp.test"]);
  const failed = await waitForJobState(h, id!, ["failed"]);
  assert.equal(failed.attempts, 1, "permanent");
  assert.match(failed.failedReason ?? "", /^\[config\] invalid_signing_key: the RSA private key has 512 bits/);
  assert.equal(google.requests.length, requestsBefore, "no assertion signed with the short key was sent");
});

test("a service-account JSON key without private_key (grant not given) is refused on auth.clientSecret", async () => {
  await assertRefusedKey("bad-json-detected", { clientSecret: NO_KEY_FILE, scope: GMAIL });
});

test("invalid_client fails every job at once with the reason and hint; the provider is asked once", async () => {
  await configure("bad", "alerts@contoso.test", { clientId: "ms-app", clientSecret: WRONG_SECRET, tokenUrl: strict.url, scope: OUTLOOK });
  const check = async (ids: string[]) => {
    for (const id of ids) {
      const job = await waitForJobState(h, id, ["failed"]);
      assert.equal(job.attempts, 1, "failed at once, no retry");
      assert.match(job.failedReason ?? "", /^\[token\] invalid_client/);
      assert.match(job.failedReason ?? "", /AADSTS7000215/);
      assert.match(job.failedReason ?? "", /Hint: .*secret's Value/);
    }
  };
  await check(await enqueueAlert("bad", ["b1@example.com", "b2@example.com", "b3@example.com", "b4@example.com", "b5@example.com"]));
  assert.equal(strict.requests.length, 1, "one token request for five jobs");
  assert.equal(strict.requests[0]!.status, 401);
  await check(await enqueueAlert("bad", ["b6@example.com", "b7@example.com", "b8@example.com", "b9@example.com", "b10@example.com"]));
  assert.equal(strict.requests.length, 1, "the remembered error answered the next five");
  assert.equal(smtp.received.filter((m) => m.to.some((t) => /^b\d+@/.test(t))).length, 0);
});

test("503 twice with Retry-After: 1, then 200: delivered, and the retry waited for Retry-After", async () => {
  await configure("flaky", "alerts@flaky.test", { clientId: "flaky-app", clientSecret: FLAKY_SECRET, tokenUrl: flaky.url, scope: OUTLOOK });
  for (let i = 0; i < 2; i++) flaky.script.push({ status: 503, body: { error: "temporarily_unavailable" }, headers: { "retry-after": "1" } });
  const [id] = await enqueueAlert("flaky", ["flaky@example.com"]);
  const job = await waitForJobState(h, id!, ["completed"], 30_000);
  assert.deepEqual(flaky.requests.map((r) => r.status), [503, 503, 200]);
  // BullMQ 6 counts every finished attempt, the successful one included: 2 failures + 1 success.
  assert.equal(job.attempts, 3);
  const [a, b, c] = flaky.requests.map((r) => r.at);
  assert.ok(b! - a! >= 950, `gap 1→2 was ${b! - a!} ms; Retry-After: 1 asks for 1000 (the backoff alone is ~100)`);
  assert.ok(c! - b! >= 950, `gap 2→3 was ${c! - b!} ms`);
  assert.ok(smtp.received.some((m) => m.to.includes("flaky@example.com")));
  assert.ok(seen.some((s) => s.token === flaky.issued[0]?.token && s.user === "alerts@flaky.test"));
});

test("no access token, client secret or key material in Redis, logs, job data or API answers", async () => {
  const tokens = [ms, basic, google, flaky].flatMap((s) => s.issued.map((t) => t.token));
  assert.ok(tokens.length >= 5, `the earlier tests issued tokens (${tokens.length})`);
  const b64 = (s: string) => Buffer.from(s).toString("base64");
  const secrets = [
    MS_SECRET, BASIC_SECRET, encodeURIComponent(BASIC_SECRET), WRONG_SECRET, FLAKY_SECRET, PEM_MARK,
    b64(`basic+app:${encodeURIComponent(BASIC_SECRET)}`),
    ...tokens, ...seen.map((s) => b64(`user=${s.user}\u0001auth=Bearer ${s.token}\u0001\u0001`)),
  ];
  const dump = await dumpPrefix(h.services.redis, h.settings.prefix);
  assert.ok(dump.keys.length > 0 && jobIds.every((id) => dump.text.includes(id)), "the dump holds the jobs");
  const jobData: string[] = [];
  for (const id of jobIds) {
    const job = await h.services.producer.queue.getJob(id);
    assert.ok(job, `job ${id} still exists`);
    jobData.push(JSON.stringify(job.data));
  }
  const places: [string, string][] = [["redis", dump.text], ["logs", h.logs.join("\n")], ["job data", jobData.join("\n")], ["api", apiAnswers.join("\n")]];
  assert.ok(h.logs.length > 0);
  for (const [where, text] of places) {
    const found = secrets.filter((s) => text.includes(s));
    assert.deepEqual(found.map((s) => `${s.slice(0, 12)}…`), [], `secrets found in ${where}`);
  }
});
