import { test } from "node:test";
import assert from "node:assert/strict";
import { retryDelay } from "../../src/delivery/backoff.ts";
import { classifySmtpError } from "../../src/delivery/classify-smtp.ts";
import { transportOptions } from "../../src/delivery/transport-options.ts";
import { DeliveryError } from "../../src/errors.ts";
import { isPrivateAddress } from "../../src/net/private-address.ts";
import { jobIdFor } from "../../src/jobs/job-id.ts";
import type { ResolvedConfig, SmtpConfig } from "../../src/smtp-config/model.ts";

test("backoff doubles with jitter, is capped, and Retry-After wins", () => {
  const opts = { baseMs: 1000, maxMs: 60_000 };
  assert.equal(retryDelay(1, new Error("x"), opts, () => 0), 500);
  assert.equal(retryDelay(1, new Error("x"), opts, () => 1), 1000);
  assert.equal(retryDelay(3, new Error("x"), opts, () => 1), 4000);
  assert.equal(retryDelay(20, new Error("x"), opts, () => 1), 60_000);
  const retryAfter = new DeliveryError("429", { stage: "token", permanent: false, code: "http_429", retryAfterMs: 7000 });
  assert.equal(retryDelay(1, retryAfter, opts, () => 0), 7000);
  assert.equal(retryDelay(1, new DeliveryError("x", { stage: "token", permanent: false, code: "x", retryAfterMs: 10 ** 9 }), opts), 60_000);
});

test("SMTP replies: 4xx transient, 5xx permanent, with the stage and a hint", () => {
  const e451 = classifySmtpError(Object.assign(new Error("x"), { code: "EMESSAGE", responseCode: 451, response: "451 4.3.0 try later", command: "DATA" }));
  assert.deepEqual([e451.stage, e451.permanent, e451.smtpCode], ["send", false, 451]);
  const e550 = classifySmtpError(Object.assign(new Error("x"), { code: "EENVELOPE", responseCode: 550, response: "550 5.1.1 no such user", command: "RCPT TO" }));
  assert.deepEqual([e550.stage, e550.permanent], ["send", true]);
  assert.match(e550.hint ?? "", /recipient/);
  const ms = classifySmtpError(Object.assign(new Error("Invalid login"), { code: "EAUTH", responseCode: 535, response: "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant.", command: "AUTH XOAUTH2" }), { oauth: true });
  assert.deepEqual([ms.stage, ms.permanent], ["auth", true]);
  assert.match(ms.hint ?? "", /SMTP AUTH is disabled/);
  const refused = classifySmtpError(Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ESOCKET" }));
  assert.deepEqual([refused.stage, refused.permanent, refused.code], ["connect", false, "ECONNREFUSED"]);
  assert.ok(!/\n/.test(classifySmtpError(Object.assign(new Error("x"), { responseCode: 550, response: "550 line one\r\n550 line two" })).message));
});

test("transport options never send credentials unencrypted unless explicitly allowed", () => {
  const base: SmtpConfig = { host: "smtp.example.com", port: 587, secure: false, fromEmail: "a@b.test", auth: { type: "password", username: "u", password: "p" } };
  const resolve = (config: SmtpConfig): ResolvedConfig => ({ projectId: "p", source: "project", config, fingerprint: "f", version: 1 });
  assert.equal(transportOptions(resolve(base)).requireTLS, true);
  assert.equal(transportOptions(resolve({ ...base, allowInsecureAuth: true })).requireTLS, false);
  assert.equal(transportOptions(resolve({ ...base, auth: undefined })).requireTLS, false);
  const implicit = transportOptions(resolve({ ...base, port: 465, secure: true }));
  assert.deepEqual([implicit.secure, implicit.requireTLS], [true, false]);
  assert.equal(transportOptions(resolve({ ...base, secure: true })).requireTLS, true);
  const tls = transportOptions(resolve(base)).tls as { rejectUnauthorized: boolean };
  assert.equal(tls.rejectUnauthorized, true);
});

test("private addresses", () => {
  for (const ip of ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "::1", "fd00::1", "::ffff:127.0.0.1", "0.0.0.0"]) {
    assert.equal(isPrivateAddress(ip), true, ip);
  }
  for (const ip of ["8.8.8.8", "52.96.0.1", "2606:4700::1111"]) assert.equal(isPrivateAddress(ip), false, ip);
});

test("job ids: stable per (project, type, key, recipient), case-insensitive recipient, random without a key", () => {
  const a = jobIdFor("p1", "incident", "A@x.test", "k1");
  assert.equal(a, jobIdFor("p1", "incident", "a@X.test", "k1"));
  assert.notEqual(a, jobIdFor("p2", "incident", "a@x.test", "k1"));
  assert.notEqual(a, jobIdFor("p1", "incident", "b@x.test", "k1"));
  assert.match(a, /^i-[A-Za-z0-9_-]{32}$/);
  assert.notEqual(jobIdFor("p1", "alert", "a@x.test", undefined), jobIdFor("p1", "alert", "a@x.test", undefined));
});
