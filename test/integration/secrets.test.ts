// "Secrets are never in job data, logs, API responses or error messages": drive the success,
// retry and failure paths with distinctive passwords, then search every Redis value under the
// prefix, every log line and the API's answers for them (plain and in the base64 forms SMTP
// AUTH PLAIN / LOGIN put on the wire).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { createHarness, getJob, waitForJobState, type Harness, enqueue } from "../helpers/harness.ts";
import { startTestSmtpServer, type TestSmtpServer } from "../helpers/smtp-server.ts";
import { dumpPrefix } from "../helpers/redis-dump.ts";

const hex = randomBytes(8).toString("hex");
const PASSWORD = `pw-${hex}`;
const WRONG_PASSWORD = `pw-wrong-${hex}`;
const DEFAULT_PASSWORD = `pw-default-${hex}`;

/** Every form a secret could take in a value: itself, and base64 as AUTH LOGIN / PLAIN send it. */
function forms(user: string, secret: string): string[] {
  const b64 = (s: string) => Buffer.from(s).toString("base64");
  return [secret, b64(secret), b64(`\u0000${user}\u0000${secret}`)];
}
const SECRETS = [...forms("mailer", PASSWORD), ...forms("mailer", WRONG_PASSWORD), ...forms("dflt", DEFAULT_PASSWORD)];

function leaks(text: string): string[] {
  return SECRETS.filter((s) => text.includes(s));
}

let h: Harness;
let smtp: TestSmtpServer;
let defaultServer: TestSmtpServer;
const jobIds: string[] = [];

before(async () => {
  smtp = await startTestSmtpServer({ password: { user: "mailer", pass: PASSWORD } });
  defaultServer = await startTestSmtpServer({ password: { user: "dflt", pass: DEFAULT_PASSWORD } });
  h = await createHarness("secrets", { env: { DEFAULT_SMTP_URL: `smtp://dflt:${DEFAULT_PASSWORD}@localhost:${defaultServer.port}` } });
});

after(async () => {
  await h.close();
  await smtp.close();
  await defaultServer.close();
});

async function putConfig(projectId: string, password: string): Promise<string> {
  const res = await h.app.inject({
    method: "PUT",
    url: `/v1/projects/${projectId}/smtp-config`,
    headers: h.auth,
    payload: { host: "localhost", port: smtp.port, secure: true, fromEmail: "status@acme.test", auth: { type: "password", username: "mailer", password } },
  });
  assert.equal(res.statusCode, 200, res.body);
  return res.body;
}

async function send(projectId: string, to: string): Promise<string> {
  const [id] = await enqueue(h, { type: "incident", projectId, to: [to], data: { incidentId: "1", title: "Secret test", state: "created", severity: "minor" } });
  jobIds.push(id!);
  return id!;
}

/** Every value stored under the harness prefix, read according to its type. */

test("deliveries that succeed, retry and fail leave no secret in Redis, logs or API answers", async () => {
  const responses: string[] = [];
  responses.push(await putConfig("p-secret", PASSWORD));
  responses.push(await putConfig("p-wrong", WRONG_PASSWORD));

  const ok = await send("p-secret", "ok@example.com");
  await waitForJobState(h, ok, ["completed"]);

  smtp.script.push({ at: "DATA", code: 451, message: "4.3.0 try again later" });
  const retried = await send("p-secret", "retry@example.com");
  assert.ok((await waitForJobState(h, retried, ["completed"])).attempts >= 2);

  smtp.script.push({ at: "RCPT", code: 550, message: "5.1.1 no such user" });
  const refused = await send("p-secret", "nobody@example.com");
  assert.match((await waitForJobState(h, refused, ["failed"])).failedReason ?? "", /\[send\] 550/);

  const badLogin = await send("p-wrong", "wrong@example.com");
  assert.match((await waitForJobState(h, badLogin, ["failed"])).failedReason ?? "", /\[auth\]/);

  const viaDefault = await send("p-default", "default@example.com");
  await waitForJobState(h, viaDefault, ["completed"]);

  assert.equal(smtp.received.length, 2);
  assert.equal(defaultServer.received[0]?.user, "dflt", "the default server's password was used");
  assert.ok(smtp.authAttempts.some((a) => !a.ok), "the wrong password was really tried");

  // Redis: every key under the prefix, every value.
  const dump = await dumpPrefix(h.services.redis, h.settings.prefix);
  assert.ok(dump.keys.length >= 5, `expected job, config and marker keys, found ${dump.keys.length}`);
  assert.ok(dump.text.includes("nobody@example.com") && dump.text.includes("5.1.1 no such user"), "the dump holds job data and reasons");
  assert.deepEqual(leaks(dump.text), [], "no secret in any Redis value");

  // Logs: the error paths were logged, without the secret.
  assert.ok(h.logs.some((l) => l.includes(refused) && l.includes("550")), "the 550 was logged");
  assert.ok(h.logs.some((l) => l.includes(badLogin) && l.includes('"stage":"auth"')), "the auth failure was logged");
  assert.ok(h.logs.some((l) => l.includes(retried) && l.includes("451")), "the 451 retry was logged");
  assert.deepEqual(h.logs.filter((l) => leaks(l).length > 0), [], "no secret in any log line");

  // API answers.
  for (const id of jobIds) responses.push(JSON.stringify(await getJob(h, id)));
  for (const projectId of ["p-secret", "p-wrong"]) {
    const res = await h.app.inject({ method: "GET", url: `/v1/projects/${projectId}/smtp-config`, headers: h.auth });
    assert.equal(res.statusCode, 200);
    assert.match(res.body, /"password":"\[redacted\]"/);
    responses.push(res.body);
  }
  assert.deepEqual(responses.filter((r) => leaks(r).length > 0), [], "no secret in any API answer");
});

test("the logger redacts secret-bearing fields", () => {
  const probe = `redaction-probe-${hex}`;
  const secret = `pw-log-${hex}`;
  h.log.info(
    {
      config: { auth: { password: secret, clientSecret: secret } },
      headers: { authorization: `Bearer ${secret}` },
      token: secret,
      oauth: { access_token: secret, refresh_token: secret },
    },
    probe,
  );
  const line = h.logs.find((l) => l.includes(probe));
  assert.ok(line, "the line was captured");
  assert.ok(!line.includes(secret), line);
  const parsed = JSON.parse(line) as {
    config: { auth: { password: string; clientSecret: string } };
    headers: { authorization: string };
    token: string;
    oauth: { access_token: string; refresh_token: string };
  };
  assert.equal(parsed.config.auth.password, "[redacted]");
  assert.equal(parsed.config.auth.clientSecret, "[redacted]");
  assert.equal(parsed.headers.authorization, "[redacted]");
  assert.equal(parsed.token, "[redacted]");
  assert.equal(parsed.oauth.access_token, "[redacted]");
  assert.equal(parsed.oauth.refresh_token, "[redacted]");
});
