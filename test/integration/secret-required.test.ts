// A stored secret never follows an edited destination (contract, "Isolation"): a PUT that
// changes host, port, username, tokenUrl, clientId or user and leaves the secret out (omitted,
// "[redacted]" as GET shows it, or "") answers 400 secret_required, keeps the stored config,
// and the new server never sees a connection, a login or a token request — not from the PUT
// (?verify=true included), not from the next send. Edits that keep the destination still
// keep the secret.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { createHarness, eventually, passwordConfig, waitForJobState, type Harness, enqueue } from "../helpers/harness.ts";
import { startTestSmtpServer, type TestSmtpServer } from "../helpers/smtp-server.ts";
import { startTokenServer, type TestTokenServer } from "../helpers/token-server.ts";
import { startHostileTokenPeer, type HostileTokenPeer } from "../helpers/peers/token.ts";

const hex = randomBytes(6).toString("hex");
const PASSWORD = `pw-stored-${hex}`;
const CLIENT_SECRET = `cs-stored-${hex}`;
const OUTLOOK = "https://outlook.office365.com/.default";
const SA_EMAIL = "mailer@proj.iam.gserviceaccount.test";

let h: Harness;
/** The server the config points at. */
let home: TestSmtpServer;
/** Where an attacker would like the stored password to go: accepts any login. */
let capture: TestSmtpServer;
let tokens: TestTokenServer;
/** A token endpoint that would capture what it is sent. */
let rogue: HostileTokenPeer;
const changed = new Set<string>();

before(async () => {
  home = await startTestSmtpServer({ password: { user: "mailer", pass: PASSWORD } });
  capture = await startTestSmtpServer({ authMethods: ["PLAIN", "LOGIN"], password: { user: "mailer", pass: PASSWORD } });
  tokens = await startTokenServer({ client: { id: "app", secret: CLIENT_SECRET } });
  rogue = await startHostileTokenPeer();
  h = await createHarness("secret-required");
  h.delivery!.resolver.onChange((projectId) => changed.add(projectId));
});

after(async () => {
  await h.close();
  await Promise.all([home.close(), capture.close(), tokens.close(), rogue.close()]);
});

async function put(projectId: string, body: Record<string, unknown>, query = "") {
  return h.app.inject({ method: "PUT", url: `/v1/projects/${projectId}/smtp-config${query}`, headers: h.auth, payload: body });
}

async function putOk(projectId: string, body: Record<string, unknown>): Promise<void> {
  changed.delete(projectId);
  const res = await put(projectId, body);
  assert.equal(res.statusCode, 200, res.body);
  await eventually(() => (changed.has(projectId) ? true : undefined), 5000, `config change of ${projectId}`);
}

function assertSecretRequired(res: { statusCode: number; body: string }, field: string, changedField: string): void {
  assert.equal(res.statusCode, 400, res.body);
  const { error } = JSON.parse(res.body) as { error: { code: string; message: string; details: { field: string; message: string }[] } };
  assert.equal(error.code, "secret_required");
  assert.deepEqual(error.details.map((d) => d.field), [field]);
  assert.match(error.details[0]!.message, new RegExp(`${changedField.replace(/\./g, "\\.")}.*changed`));
  assert.ok(!res.body.includes(PASSWORD) && !res.body.includes(CLIENT_SECRET));
}

const sendAlert = async (projectId: string, to: string) =>
  (await enqueue(h, { type: "alert", projectId, to: [to], data: { alertId: "1", title: "t", state: "created", severity: "high" } }))[0]!;

test("password: host, port or username changed without the password → 400 secret_required; the stored config stays and still delivers", async () => {
  const base = passwordConfig(home.port, "mailer", PASSWORD);
  await putOk("pw", base);
  const { password: _omitted, ...authWithout } = base.auth as Record<string, unknown>;
  const variants: [string, Record<string, unknown>][] = [
    ["host", { ...base, host: "127.0.0.1", port: capture.port, auth: authWithout }],
    ["port", { ...base, port: capture.port, auth: { ...authWithout, password: "[redacted]" } }],
    ["port", { ...base, port: capture.port, auth: { ...authWithout, password: "" } }],
    ["auth.username", { ...base, auth: { ...authWithout, username: "someone-else" } }],
  ];
  for (const [field, body] of variants) {
    assertSecretRequired(await put("pw", body), "auth.password", field);
    // ?verify=true would connect and log in: it must not get that far either.
    assertSecretRequired(await put("pw", body, "?verify=true"), "auth.password", field);
  }
  const got = await h.app.inject({ method: "GET", url: "/v1/projects/pw/smtp-config", headers: h.auth });
  assert.equal((got.json() as { port: number }).port, home.port, "the stored config is unchanged");

  const id = await sendAlert("pw", "still-home@example.com");
  await waitForJobState(h, id, ["completed"]);
  assert.equal(home.received.at(-1)?.to[0], "still-home@example.com");
  assert.equal(capture.connections, 0, "the new destination never saw a connection, so never a password");
});

test("password: the same destination keeps the stored secret (omitted or [redacted]); a new destination with the password is fine", async () => {
  const base = passwordConfig(home.port, "mailer", PASSWORD);
  await putOk("pw-keep", base);
  const { password: _omitted, ...authWithout } = base.auth as Record<string, unknown>;
  await putOk("pw-keep", { ...base, fromName: "Renamed", auth: authWithout });
  await putOk("pw-keep", { ...base, fromName: "Renamed again", secure: true, auth: { ...authWithout, password: "[redacted]" } });
  const id = await sendAlert("pw-keep", "kept@example.com");
  await waitForJobState(h, id, ["completed"]);
  assert.equal(home.received.find((m) => m.to.includes("kept@example.com"))?.mail.from?.value[0]?.name, "Renamed again");

  // Moving with the secret sent again is an ordinary edit.
  await putOk("pw-keep", { ...base, host: "127.0.0.1" });
  const moved = await sendAlert("pw-keep", "moved@example.com");
  await waitForJobState(h, moved, ["completed"]);
});

test("a destination change alongside another bad field: 400 validation_failed naming both", async () => {
  const base = { host: "localhost", port: home.port, fromEmail: "alerts@acme.test", auth: { type: "oauth", clientId: "app", clientSecret: CLIENT_SECRET, tokenUrl: tokens.url, scope: OUTLOOK } };
  await putOk("oa-both", base);
  // A new tokenUrl with no default scope, and no scope given: two problems, both reported.
  const res = await put("oa-both", { ...base, auth: { type: "oauth", clientId: "app", tokenUrl: `${rogue.base}/echo` } });
  assert.equal(res.statusCode, 400, res.body);
  const { error } = res.json() as { error: { code: string; details: { field: string }[] } };
  assert.equal(error.code, "validation_failed");
  assert.deepEqual(error.details.map((d) => d.field).sort(), ["auth.clientSecret", "auth.scope"]);
});

test("oauth: tokenUrl, clientId or user changed without the client secret → 400 secret_required; the rogue endpoint gets nothing", async () => {
  const base = { host: "localhost", port: home.port, fromEmail: "alerts@acme.test", auth: { type: "oauth", clientId: "app", clientSecret: CLIENT_SECRET, tokenUrl: tokens.url, scope: OUTLOOK } };
  await putOk("oa", base);
  const auth = { ...base.auth, clientSecret: "[redacted]" };
  const variants: [string, Record<string, unknown>][] = [
    ["auth.tokenUrl", { ...base, auth: { ...auth, tokenUrl: `${rogue.base}/echo` } }],
    ["auth.clientId", { ...base, auth: { ...auth, clientId: "other-app" } }],
    ["auth.user", { ...base, auth: { ...auth, user: "boss@acme.test" } }],
    ["host", { ...base, host: "127.0.0.1", auth }],
  ];
  for (const [field, body] of variants) {
    assertSecretRequired(await put("oa", body), "auth.clientSecret", field);
    assertSecretRequired(await put("oa", body, "?verify=true"), "auth.clientSecret", field);
  }
  const tested = await h.app.inject({ method: "POST", url: "/v1/projects/oa/smtp-config/test", headers: h.auth, payload: { to: "ops@example.com" } });
  assert.equal((tested.json() as { stage: string }).stage, "auth", "the stored config is the one tested (its token came from the real endpoint)");
  assert.equal(rogue.requests.length, 0, "no token request ever reached the new tokenUrl");
  assert.ok(tokens.requests.length >= 1);
  // A scope change does not move the secret: kept.
  await putOk("oa", { ...base, auth: { ...auth, scope: "https://outlook.office365.com/SMTP.Send" } });
});

test("jwt_bearer from a key file: omitting clientSecret and the derived tokenUrl is no change; an explicit new tokenUrl is", async () => {
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const keyFile = JSON.stringify({ type: "service_account", client_email: SA_EMAIL, private_key: privateKey.export({ type: "pkcs8", format: "pem" }).toString(), token_uri: tokens.url });
  const base = { host: "localhost", port: home.port, fromEmail: "ops@corp.test", auth: { type: "oauth", clientSecret: keyFile, scope: "https://mail.google.com/" } };
  await putOk("jwt", base);
  await putOk("jwt", { ...base, fromName: "Ops", auth: { type: "oauth", scope: "https://mail.google.com/" } });
  assertSecretRequired(await put("jwt", { ...base, auth: { type: "oauth", scope: "https://mail.google.com/", tokenUrl: `${rogue.base}/echo` } }), "auth.clientSecret", "auth.tokenUrl");
  assert.equal(rogue.requests.length, 0);
});
