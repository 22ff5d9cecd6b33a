// POST /v1/projects/:id/smtp-config/test and PUT ?verify=true against real peers: every stage
// (token, connect, tls, auth, send) is provoked for real and the answer's stage, code and hint
// are checked; verify keeps the old config on failure and never sends an email.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { randomBytes } from "node:crypto";
import { createHarness, type Harness } from "../helpers/harness.ts";
import { freePort, startTestSmtpServer, type TestSmtpServer } from "../helpers/smtp-server.ts";
import { startTokenServer, type TestTokenServer } from "../helpers/token-server.ts";
import { testCerts } from "../helpers/certs.ts";

const hex = randomBytes(6).toString("hex");
const PASS = `smtp-pass-${hex}`;
const WRONG_PASS = `wrong-pass-${hex}`;
const CLIENT_SECRET = `client-secret-${hex}`;
const BAD_SECRET = `bad-secret-${hex}`;
const OUTLOOK = "https://outlook.office365.com/.default";

interface Outcome {
  ok: boolean;
  stage?: string;
  code?: string;
  message?: string;
  hint?: string;
  messageId?: string;
  response?: string;
  timingsMs: Record<string, number | undefined>;
}

let h: Harness;
let smtp: TestSmtpServer; // STARTTLS, PLAIN/LOGIN only
let oauthSmtp: TestSmtpServer; // STARTTLS, XOAUTH2 only
let tokens: TestTokenServer;
const others: TestSmtpServer[] = [];
let silent: Server;
const silentSockets = new Set<Socket>();
/** Every answer the API gave in this file: none may hold a secret. */
const bodies: string[] = [];
/** The `code` of each failure, by project. */
const codes = new Map<string, string | undefined>();

before(async () => {
  h = await createHarness("test-send", { worker: false });
  smtp = await startTestSmtpServer({ password: { user: "mailer", pass: PASS } });
  tokens = await startTokenServer({ client: { id: "app", secret: CLIENT_SECRET } });
  oauthSmtp = await startTestSmtpServer({ xoauth2: (user, token) => tokens.isValid(user, token) });
  // Accepts connections and never says a word (no 220 greeting).
  silent = createServer((socket) => {
    silentSockets.add(socket);
    socket.on("close", () => silentSockets.delete(socket));
  });
  await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
});

after(async () => {
  await h.close();
  for (const s of [smtp, oauthSmtp, ...others]) await s.close();
  await tokens.close();
  for (const socket of silentSockets) socket.destroy();
  await new Promise<void>((resolve) => silent.close(() => resolve()));
});

async function server(options: Parameters<typeof startTestSmtpServer>[0]): Promise<TestSmtpServer> {
  const s = await startTestSmtpServer(options);
  others.push(s);
  return s;
}

function passwordConfig(port: number, extra: Record<string, unknown> = {}, password = PASS) {
  return { host: "localhost", port, secure: true, fromEmail: "status@acme.test", auth: { type: "password", username: "mailer", password }, ...extra };
}

function oauthConfig(port: number, clientSecret = CLIENT_SECRET) {
  return { host: "localhost", port, secure: true, fromEmail: "alerts@contoso.test", auth: { type: "oauth", clientId: "app", clientSecret, tokenUrl: tokens.url, scope: OUTLOOK } };
}

async function put(projectId: string, config: object, query = "") {
  const res = await h.app.inject({ method: "PUT", url: `/v1/projects/${projectId}/smtp-config${query}`, headers: h.auth, payload: config });
  bodies.push(res.body);
  return res;
}

async function tryConfig(projectId: string, config: object | null): Promise<{ status: number; body: Outcome }> {
  if (config) assert.equal((await put(projectId, config)).statusCode, 200, `PUT ${projectId}`);
  const res = await h.app.inject({ method: "POST", url: `/v1/projects/${projectId}/smtp-config/test`, headers: h.auth, payload: { to: "ops@example.com" } });
  bodies.push(res.body);
  return { status: res.statusCode, body: res.json() as Outcome };
}

/** A 422 at `stage` with a hint matching `hint` (and `code` when it is stable). */
async function expectFailure(projectId: string, config: object, want: { stage: string; code?: string | RegExp; hint: RegExp }): Promise<Outcome> {
  const { status, body } = await tryConfig(projectId, config);
  assert.equal(status, 422, JSON.stringify(body));
  codes.set(projectId, body.code);
  assert.equal(body.ok, false);
  assert.equal(body.stage, want.stage, JSON.stringify(body));
  if (typeof want.code === "string") assert.equal(body.code, want.code, JSON.stringify(body));
  else if (want.code) assert.match(body.code ?? "", want.code, JSON.stringify(body));
  assert.match(body.hint ?? "", want.hint, JSON.stringify(body));
  assert.ok((body.hint ?? "").length > 30, "the hint is a sentence");
  assert.ok((body.message ?? "").length > 0, "a message");
  assert.equal(typeof body.timingsMs.total, "number");
  const reached = want.stage === "token" ? "token" : "connect";
  assert.equal(typeof body.timingsMs[reached], "number", `timingsMs.${reached}`);
  return body;
}

test("STARTTLS + password: 200 with messageId, a 250 response and per-stage timings; the email arrives", async () => {
  const { status, body } = await tryConfig("ok-pass", passwordConfig(smtp.port));
  assert.equal(status, 200, JSON.stringify(body));
  assert.equal(body.ok, true);
  assert.match(body.response ?? "", /^250/);
  for (const stage of ["connect", "auth", "send", "total"]) assert.equal(typeof body.timingsMs[stage], "number", stage);
  assert.equal(body.timingsMs.token, undefined, "no token stage for a password config");
  await smtp.waitForCount(1);
  const got = smtp.received.find((m) => m.mail.messageId === body.messageId);
  assert.ok(got, `an email with messageId ${body.messageId} arrived`);
  assert.match(got.mail.subject ?? "", /test email/);
  assert.deepEqual(got.to, ["ops@example.com"]);
  assert.equal(got.secure, true, "sent over STARTTLS");
  assert.equal(got.user, "mailer");
});

test("OAuth client credentials: 200 with a token timing; the SMTP server took the issued token", async () => {
  const { status, body } = await tryConfig("ok-oauth", oauthConfig(oauthSmtp.port));
  assert.equal(status, 200, JSON.stringify(body));
  assert.equal(body.ok, true);
  assert.equal(typeof body.timingsMs.token, "number");
  assert.equal(typeof body.timingsMs.auth, "number");
  assert.ok(oauthSmtp.received.some((m) => m.mail.messageId === body.messageId && m.user === "alerts@contoso.test"));
  assert.ok(oauthSmtp.authAttempts.some((a) => a.ok && a.method === "XOAUTH2" && a.token === tokens.issued.at(-1)?.token));
});

test("connection refused: connect / ECONNREFUSED", async () => {
  await expectFailure("refused", passwordConfig(await freePort(), { host: "127.0.0.1" }), { stage: "connect", code: "ECONNREFUSED", hint: /accepts connections|port/ });
});

test("DNS failure: connect, hint says the host does not resolve (code: see below)", async () => {
  const body = await expectFailure("dns", passwordConfig(25, { host: "no-such-host.invalid" }), { stage: "connect", hint: /does not resolve/ });
  assert.match(body.message ?? "", /ENOTFOUND/);
});

test("a server that accepts and never greets: connect, after the connection timeout", async () => {
  const body = await expectFailure("silent", passwordConfig((silent.address() as AddressInfo).port, { host: "127.0.0.1" }), { stage: "connect", code: "ETIMEDOUT", hint: /answer in time/ });
  assert.ok((body.timingsMs.connect ?? 0) >= 2900, `gave up after ${body.timingsMs.connect} ms (timeout 3000)`);
});

test("self-signed certificate: tls, hint names NODE_EXTRA_CA_CERTS", async () => {
  const s = await server({ password: { user: "mailer", pass: PASS }, tls: testCerts().selfSigned });
  await expectFailure("self-signed", passwordConfig(s.port), { stage: "tls", hint: /NODE_EXTRA_CA_CERTS/ });
  assert.equal(s.authAttempts.length, 0, "no credentials sent over an untrusted connection");
});

test("certificate for another name: tls, hint about the host name", async () => {
  const s = await server({ password: { user: "mailer", pass: PASS }, tls: testCerts().otherName });
  await expectFailure("mismatch", passwordConfig(s.port), { stage: "tls", hint: /host name/ });
  assert.equal(s.authAttempts.length, 0);
});

test("STARTTLS not offered while secure: true: tls, hint about STARTTLS; no login attempted", async () => {
  const s = await server({ password: { user: "mailer", pass: PASS }, tls: false });
  await expectFailure("no-starttls", passwordConfig(s.port), { stage: "tls", code: "ETLS", hint: /STARTTLS/ });
  assert.equal(s.authAttempts.length, 0, "the password never crossed the plaintext connection");
});

test("implicit-TLS server on a non-465 port: plaintext client waits for a greeting that never comes", async () => {
  // A config can only ask for implicit TLS on 465; any other port means STARTTLS. The client
  // waits for a 220 while the server waits for a ClientHello: an honest connect timeout.
  const s = await server({ password: { user: "mailer", pass: PASS }, implicitTls: true });
  await expectFailure("implicit", passwordConfig(s.port), { stage: "connect", code: "ETIMEDOUT", hint: /answer in time/ });
  assert.equal(s.authAttempts.length, 0);
});

test("XOAUTH2 not offered (server has PLAIN/LOGIN only): auth, hint names XOAUTH2", async () => {
  await expectFailure("no-xoauth2", oauthConfig(smtp.port), { stage: "auth", code: "504", hint: /XOAUTH2/ });
});

test("wrong password: auth / 535, hint about the credentials", async () => {
  await expectFailure("wrong-pass", passwordConfig(smtp.port, {}, WRONG_PASS), { stage: "auth", code: "535", hint: /credentials/ });
  assert.equal(smtp.authAttempts.at(-1)?.ok, false);
});

test("token endpoint answers invalid_client: token / invalid_client; no SMTP connection", async () => {
  const body = await expectFailure("bad-client", oauthConfig(oauthSmtp.port, BAD_SECRET), { stage: "token", code: "invalid_client", hint: /secret/ });
  assert.equal(typeof body.timingsMs.token, "number");
  assert.equal(body.timingsMs.connect, undefined, "stopped before connecting");
  assert.equal(tokens.requests.at(-1)?.status, 401);
});

test("DNS and certificate failures carry the system's code, not nodemailer's wrapper (EDNS / ESOCKET)", () => {
  const got = { dns: codes.get("dns"), selfSigned: codes.get("self-signed"), mismatch: codes.get("mismatch") };
  assert.deepEqual(got, { dns: "ENOTFOUND", selfSigned: "DEPTH_ZERO_SELF_SIGNED_CERT", mismatch: "ERR_TLS_CERT_ALTNAME_INVALID" });
});

test("recipient or sender refused: send / 550", async () => {
  smtp.script.push({ at: "RCPT", code: 550, message: "5.1.1 <ops@example.com>: Recipient address rejected" });
  const rcpt = await expectFailure("rcpt-550", passwordConfig(smtp.port), { stage: "send", code: "550", hint: /recipient|sender/ });
  assert.match(rcpt.message ?? "", /Recipient address rejected/);
  smtp.script.push({ at: "MAIL", code: 550, message: "5.7.1 Sender not allowed" });
  const mail = await expectFailure("mail-550", passwordConfig(smtp.port), { stage: "send", code: "550", hint: /sender/ });
  assert.match(mail.message ?? "", /Sender not allowed/);
  assert.equal(smtp.script.length, 0, "both scripted replies were used");
});

test("no config and no DEFAULT_SMTP_URL → 404; a bad `to` → 400 naming it; no token → 401", async () => {
  const missing = await tryConfig("nobody", null);
  assert.equal(missing.status, 404);
  const bad = await h.app.inject({ method: "POST", url: "/v1/projects/ok-pass/smtp-config/test", headers: h.auth, payload: { to: "not an address" } });
  assert.equal(bad.statusCode, 400, bad.body);
  const details = (bad.json() as { error: { details: { field: string }[] } }).error.details;
  assert.deepEqual(details.map((d) => d.field), ["to"]);
  const anon = await h.app.inject({ method: "POST", url: "/v1/projects/ok-pass/smtp-config/test", payload: { to: "ops@example.com" } });
  assert.equal(anon.statusCode, 401);
});

test("PUT ?verify=true: a failing config is refused and the old one stays; a good one is stored; nothing is sent", async () => {
  const getFrom = async () => {
    const res = await h.app.inject({ method: "GET", url: "/v1/projects/verify/smtp-config", headers: h.auth });
    bodies.push(res.body);
    assert.equal(res.statusCode, 200, res.body);
    return (res.json() as { fromEmail: string }).fromEmail;
  };
  assert.equal((await put("verify", passwordConfig(smtp.port, { fromEmail: "old@acme.test" }))).statusCode, 200);
  const received = smtp.received.length;
  const data = smtp.dataStarted;
  const logins = smtp.authAttempts.length;

  const failing = await put("verify", passwordConfig(smtp.port, { fromEmail: "new@acme.test" }, WRONG_PASS), "?verify=true");
  assert.equal(failing.statusCode, 422, failing.body);
  const outcome = failing.json() as Outcome;
  assert.deepEqual([outcome.ok, outcome.stage, outcome.code], [false, "auth", "535"]);
  assert.match(outcome.hint ?? "", /credentials/);
  assert.equal(await getFrom(), "old@acme.test", "the old config stays");

  const good = await put("verify", passwordConfig(smtp.port, { fromEmail: "new@acme.test" }), "?verify=true");
  assert.equal(good.statusCode, 200, good.body);
  assert.equal((good.json() as { fromEmail: string }).fromEmail, "new@acme.test");
  assert.equal(await getFrom(), "new@acme.test", "stored");

  assert.deepEqual(smtp.authAttempts.slice(logins).map((a) => a.ok), [false, true], "each verify logged in for real");
  assert.equal(smtp.dataStarted, data, "verify sent no message");
  assert.equal(smtp.received.length, received);
});

test("no answer in this file contains a password, client secret or access token", () => {
  assert.ok(bodies.length >= 20, `${bodies.length} answers collected`);
  const secrets = [PASS, WRONG_PASS, CLIENT_SECRET, BAD_SECRET, ...tokens.issued.map((t) => t.token)];
  const text = bodies.join("\n");
  assert.deepEqual(secrets.filter((s) => text.includes(s)), []);
});
