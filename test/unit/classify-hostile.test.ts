// classifySmtpError against what a hostile server can put in an error: megabyte replies (which
// a backtracking regex used to take minutes over), control characters, and our own secrets.
import { test } from "node:test";
import assert from "node:assert/strict";
import { classifySmtpError } from "../../src/delivery/classify-smtp.ts";
import { smtpSecrets } from "../../src/delivery/smtp-secrets.ts";
import type { SmtpConfig } from "../../src/smtp-config/model.ts";

/** An error shaped like nodemailer's: the reply is in `response` and repeated in `message`. */
function smtpError(response: string, extra: Record<string, unknown> = {}): Error {
  return Object.assign(new Error(`Message failed: ${response}`), { code: "EENVELOPE", responseCode: Number(response.slice(0, 3)), response, command: "RCPT TO", ...extra });
}

test("a 1 MB reply of spaces (and of CR/LF runs) is classified within a second, into at most 1 KB", () => {
  // 60,000 spaces took 3.4 s before; a megabyte would have taken about a quarter of an hour.
  for (const body of [" ".repeat(1024 * 1024), " \r\n".repeat(350_000), "\t".repeat(1024 * 1024)]) {
    const started = performance.now();
    const err = classifySmtpError(smtpError(`550 ${body}x`));
    const ms = performance.now() - started;
    assert.ok(ms < 1000, `took ${Math.round(ms)} ms`);
    assert.equal(err.code, "550");
    assert.ok(err.message.length <= 1024);
    assert.ok(err.describe().length < 1024 + 300);
  }
});

test("control characters and terminal escapes never survive into the message", () => {
  const err = classifySmtpError(smtpError("550 5.1.1 \u001b]8;;http://evil.test\u0007click\u001b[2J\u0000\r\nBcc: x\u009b"));
  assert.ok(!/[\x00-\x1f\x7f-\x9f]/.test(err.message), JSON.stringify(err.message));
  assert.match(err.message, /^5\.1\.1 /);
});

test("the password, and the AUTH PLAIN and LOGIN base64 that carry it, are masked wherever the reply repeats them", () => {
  const config: SmtpConfig = { host: "h", port: 587, secure: true, fromEmail: "s@acme.test", auth: { type: "password", username: "mailer", password: "s3cret-Pa55" } };
  const plain = Buffer.from("\u0000mailer\u0000s3cret-Pa55").toString("base64");
  const login = Buffer.from("s3cret-Pa55").toString("base64");
  const response = `535-5.7.8 got AUTH PLAIN ${plain} and ${login.replace(/=+$/, "")}\r\n535 5.7.8 i.e. s3cret-Pa55`;
  const err = classifySmtpError(smtpError(response, { code: "EAUTH", command: "AUTH PLAIN" }), { secrets: smtpSecrets(config) });
  assert.equal(err.stage, "auth");
  for (const leaked of ["s3cret-Pa55", plain.replace(/=+$/, ""), login.replace(/=+$/, "")]) assert.ok(!err.describe().includes(leaked), `${leaked} in ${err.describe()}`);
  assert.equal(err.message.split("[redacted]").length - 1, 3, err.message);
});

test("an XOAUTH2 token and its SASL blob are masked too", () => {
  const config: SmtpConfig = { host: "h", port: 587, secure: true, fromEmail: "s@acme.test", auth: { type: "oauth", clientId: "app", clientSecret: "client-secret-1", tokenUrl: "https://login.test/token", scope: "x" } };
  const blob = Buffer.from("user=s@acme.test\u0001auth=Bearer tok-123456\u0001\u0001").toString("base64");
  const err = classifySmtpError(smtpError(`535 5.7.3 ${blob} tok-123456 client-secret-1`, { code: "EAUTH", command: "AUTH XOAUTH2" }), { oauth: true, secrets: smtpSecrets(config, "tok-123456") });
  assert.ok(!/tok-123456|client-secret-1/.test(err.message) && !err.message.includes(blob.replace(/=+$/, "")), err.message);
});

test("a dropped connection is reported at the step that was running when the caller knows it", () => {
  const drop = () => Object.assign(new Error("Connection closed unexpectedly"), { code: "ECONNECTION", command: "CONN" });
  assert.equal(classifySmtpError(drop()).stage, "connect");
  assert.equal(classifySmtpError(drop(), { stage: "auth" }).stage, "auth");
  assert.equal(classifySmtpError(drop(), { stage: "send" }).stage, "send");
  assert.equal(classifySmtpError(drop(), { stage: "send" }).permanent, false);
});
