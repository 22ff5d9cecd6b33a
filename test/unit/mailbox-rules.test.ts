// The pure parts of sending limits: the provider reply table (kind, permanence, hint), the
// effective limits and their source, the mailbox identity, and `limits` validation.
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { classifySmtpError } from "../../src/delivery/classify-smtp.ts";
import { effectiveLimits } from "../../src/mailbox/limits.ts";
import { mailboxOf } from "../../src/mailbox/mailbox.ts";
import { parseMasterKey } from "../../src/crypto/master-key.ts";
import { parseSmtpConfig } from "../../src/smtp-config/validate.ts";
import { ValidationError } from "../../src/validation.ts";
import type { SmtpConfig } from "../../src/smtp-config/model.ts";

const reply = (responseCode: number, response: string, command = "MAIL FROM", oauth = false) =>
  classifySmtpError(Object.assign(new Error(response), { code: command.startsWith("AUTH") ? "EAUTH" : "EENVELOPE", responseCode, response: `${responseCode} ${response}`, command }), { oauth });

test("provider replies: throttling, quota and mailbox-wide failures are classified with a kind and an actionable hint", () => {
  const cases: [number, string, string, string | undefined, boolean, RegExp][] = [
    [432, "4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded", "MAIL FROM", "throttle", false, /concurrency is lowered.*3 per mailbox/],
    [421, "4.7.0 Try again later, closing connection.", "MAIL FROM", "throttle", false, /throttling this mailbox/],
    [450, "4.7.1 Too many messages, slow down", "RCPT TO", "throttle", false, /throttling/],
    [454, "4.7.0 Too many login attempts, please try again later", "AUTH PLAIN", "throttle", false, /throttling/],
    [554, "5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException", "DATA", "quota", false, /daily sending limit.*next day/],
    [550, "5.4.5 Daily user sending quota exceeded", "DATA", "quota", false, /Google's daily sending limit/],
    [554, "5.2.252 SendAsDenied; status@acme.test not allowed to send as ops@acme.test", "DATA", "breaker", true, /Add-RecipientPermission/],
    [554, "5.2.2 mailbox full; STOREDRV.Submission.Exception:QuotaExceededException", "DATA", "breaker", true, /Sent Items/],
    [550, "5.7.57 Client not authenticated to send mail", "MAIL FROM", "breaker", true, /add `auth`/],
    [550, "5.1.1 RESOLVER.ADR.RecipNotFound; not found", "RCPT TO", undefined, true, /recipient address.*other recipients are not affected/],
    [550, "5.1.10 RESOLVER.ADR.RecipientNotFound", "RCPT TO", undefined, true, /recipient address/],
    [451, "4.3.0 try again later", "DATA", undefined, false, /try again later/],
  ];
  for (const [code, text, command, kind, permanent, hint] of cases) {
    const err = reply(code, text, command);
    assert.equal(err.kind, kind, `${code} ${text}`);
    assert.equal(err.permanent, permanent, `${code} ${text}`);
    assert.match(err.hint ?? "", hint, `${code} ${text}`);
  }
});

test("535 5.7.139 / 5.7.30 on a password config: a breaker failure whose hint names OAuth over SMTP, Graph and December 2026", () => {
  for (const text of ["5.7.139 Authentication unsuccessful, basic authentication is disabled.", "5.7.30 Basic authentication is not supported for Client Submission."]) {
    const err = reply(535, text, "AUTH PLAIN");
    assert.deepEqual([err.stage, err.kind, err.permanent, err.providerCode], ["auth", "breaker", true, "basic_auth_disabled"]);
    assert.match(err.hint ?? "", /OAuth over SMTP/);
    assert.match(err.hint ?? "", /Graph transport/);
    assert.match(err.hint ?? "", /end of December 2026/);
  }
  // With OAuth the way out is enabling SMTP AUTH for the mailbox, or Graph.
  const oauth = reply(535, "5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant.", "AUTH XOAUTH2", true);
  assert.match(oauth.hint ?? "", /SMTP AUTH is disabled.*Graph transport/);
  // 5.7.3: SMTP.SendAsApp for OAuth, the password and Authenticated SMTP otherwise.
  assert.match(reply(535, "5.7.3 Authentication unsuccessful", "AUTH XOAUTH2", true).hint ?? "", /SMTP\.SendAsApp/);
  assert.match(reply(535, "5.7.3 Authentication unsuccessful", "AUTH PLAIN").hint ?? "", /username and password/);
  // Any other refused login is a breaker failure too; certificate errors as well.
  assert.equal(reply(535, "5.7.8 Authentication credentials invalid", "AUTH PLAIN").kind, "breaker");
  const cert = classifySmtpError(Object.assign(new Error("self-signed certificate"), { code: "ESOCKET", originalCode: "DEPTH_ZERO_SELF_SIGNED_CERT" }));
  assert.deepEqual([cert.stage, cert.kind], ["tls", "breaker"]);
  // A refused recipient is about one message, never the mailbox.
  assert.equal(reply(550, "5.1.1 no such user", "RCPT TO").kind, undefined);
});

test("effective limits: config field by field over provider defaults; source config / provider-default / default", () => {
  const base: SmtpConfig = { host: "SMTP.Office365.com", port: 587, secure: true, fromEmail: "a@x.test" };
  assert.deepEqual(effectiveLimits(base), { limits: { maxConnections: 3, messagesPerMinute: 30, messagesPerDay: 10_000 }, source: "provider-default" });
  assert.deepEqual(effectiveLimits({ ...base, host: "smtp-mail.outlook.com" }).limits, { maxConnections: 3, messagesPerMinute: 30, messagesPerDay: 10_000 });
  assert.deepEqual(effectiveLimits({ ...base, host: "smtp.gmail.com" }), { limits: { maxConnections: 3, messagesPerDay: 2000 }, source: "provider-default" });
  assert.deepEqual(effectiveLimits({ ...base, host: "mail.example.com" }), { limits: { maxConnections: 10 }, source: "default" });
  assert.deepEqual(effectiveLimits({ ...base, limits: { maxConnections: 1 } }), { limits: { maxConnections: 1, messagesPerMinute: 30, messagesPerDay: 10_000 }, source: "config" });
  assert.deepEqual(effectiveLimits({ ...base, host: "mail.example.com", limits: { messagesPerMinute: 5 } }), { limits: { maxConnections: 10, messagesPerMinute: 5 }, source: "config" });
});

test("a mailbox is (transport, host, port, authenticated user or fromEmail); its id is a keyed hash that reveals neither", () => {
  const key = parseMasterKey(randomBytes(32).toString("base64"), "test");
  const other = parseMasterKey(randomBytes(32).toString("base64"), "test");
  const base: SmtpConfig = { host: "smtp.office365.com", port: 587, secure: true, fromEmail: "status@acme.test", auth: { type: "password", username: "Mailer@Acme.test", password: "p" } };
  const a = mailboxOf(base, key);
  assert.equal(a.identity, "mailer@acme.test");
  assert.equal(mailboxOf({ ...base, host: "SMTP.OFFICE365.COM", fromEmail: "other@acme.test", auth: { type: "password", username: "mailer@acme.test", password: "changed" } }, key).id, a.id, "same user, same server: one mailbox whatever the password or From");
  assert.notEqual(mailboxOf({ ...base, port: 25 }, key).id, a.id);
  assert.notEqual(mailboxOf({ ...base, auth: { type: "password", username: "someone@acme.test", password: "p" } }, key).id, a.id);
  assert.equal(mailboxOf({ ...base, auth: undefined }, key).identity, "status@acme.test");
  assert.equal(mailboxOf({ ...base, auth: { type: "oauth", clientId: "c", clientSecret: "s", tokenUrl: "https://t", scope: "s", user: "Box@acme.test" } }, key).identity, "box@acme.test");
  assert.equal(mailboxOf({ ...base, auth: { type: "oauth", clientId: "c", clientSecret: "s", tokenUrl: "https://t", scope: "s" } }, key).identity, "status@acme.test");
  assert.notEqual(mailboxOf(base, other).id, a.id, "keyed: another deployment's key gives another id");
  assert.ok(!a.id.includes("acme") && /^[A-Za-z0-9_-]{22}$/.test(a.id));
});

test("limits validation: positive integers, known fields only; a GET body's read-only fields are accepted and dropped", async () => {
  const base = { host: "mail.example.com", port: 587, fromEmail: "a@x.test" };
  const fields = async (limits: unknown) => {
    try {
      await parseSmtpConfig({ ...base, limits }, { allowPrivateTargets: true });
      return [];
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      return err.details.map((d) => d.field);
    }
  };
  assert.deepEqual(await fields({ maxConnections: 0 }), ["limits.maxConnections"]);
  assert.deepEqual(await fields({ messagesPerMinute: 1.5 }), ["limits.messagesPerMinute"]);
  assert.deepEqual(await fields({ messagesPerDay: "100" }), ["limits.messagesPerDay"]);
  assert.deepEqual(await fields({ burst: 3 }), ["limits.burst"]);
  assert.deepEqual(await fields({ maxConnections: 2, messagesPerMinute: 120, messagesPerDay: 5000 }), []);
  const parsed = await parseSmtpConfig({ ...base, limits: { maxConnections: 2 }, limitsSource: "config", health: { state: "open", since: null, lastError: null } }, { allowPrivateTargets: true });
  assert.deepEqual(parsed.limits, { maxConnections: 2 });
  assert.ok(!("limitsSource" in parsed) && !("health" in parsed));
});
