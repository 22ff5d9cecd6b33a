// Secrets never reach a log line, whatever shape the logged object has; and the object a
// caller logs is never changed. Lines are captured from a real pino logger (createLogger).
import { test } from "node:test";
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import fc from "fast-check";
import { createLogger, redactSecrets } from "../../src/log.ts";

function capture() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(...chunk.toString("utf8").split("\n").filter(Boolean));
      callback();
    },
  });
  return { log: createLogger({ level: "debug", destination }), lines };
}

test("secret fields at every depth, in arrays, errors, their causes and child bindings are [redacted]", () => {
  const { log, lines } = capture();
  const err = Object.assign(new Error("login refused"), { response: "535", auth: { user: "u", pass: "pw-in-error" } });
  const withCause = new Error("outer", { cause: Object.assign(new Error("inner"), { accessToken: "tok-in-cause" }) });
  log.child({ jobId: "j1", token: "tok-in-binding" }).warn({
    password: "pw-top",
    auth: { type: "password", username: "mailer", password: "pw-nested" },
    a: { b: { c: { clientSecret: "cs-deep" } } },
    list: [{ client_secret: "cs-in-array" }, "plain"],
    request: { headers: { authorization: "Bearer abc", "x-api-key": "key-1", accept: "*/*" } },
    err,
  }, "hello");
  log.error({ err: withCause }, "with a cause");
  assert.equal(lines.length, 2);
  const line = lines[0]!;
  for (const secret of ["pw-top", "pw-nested", "cs-deep", "cs-in-array", "Bearer abc", "key-1", "pw-in-error", "tok-in-binding"]) {
    assert.ok(!line.includes(secret), `${secret} in ${line}`);
  }
  interface Line {
    auth: { username: string; password: string };
    request: { headers: Record<string, string> };
    err: { message: string; response: string; stack: string };
    jobId: string;
    token: string;
    list: unknown[];
  }
  const parsed = JSON.parse(line) as Line;
  assert.equal(parsed.auth.username, "mailer");
  assert.equal(parsed.auth.password, "[redacted]");
  assert.equal(parsed.request.headers.accept, "*/*");
  assert.equal(parsed.request.headers.authorization, "[redacted]");
  assert.equal(parsed.err.message, "login refused");
  assert.equal(parsed.err.response, "535");
  assert.match(parsed.err.stack, /login refused/);
  assert.equal(parsed.jobId, "j1");
  assert.equal(parsed.token, "[redacted]");
  assert.deepEqual(parsed.list, [{ client_secret: "[redacted]" }, "plain"]);
  assert.ok(!lines[1]!.includes("tok-in-cause"), lines[1]);
  assert.match(lines[1]!, /inner/, "the cause is still written");
});

test("the caller's object is not changed, and an object without secrets is passed through as it is", () => {
  const input = { auth: { password: "pw" }, list: [{ token: "t" }] };
  const snapshot = JSON.parse(JSON.stringify(input));
  const out = redactSecrets(input) as typeof input;
  assert.deepEqual(input, snapshot);
  assert.equal(out.auth.password, "[redacted]");
  const clean = { jobId: "j", projectId: "p", durationMs: 3, messageId: "<m@x>" };
  assert.equal(redactSecrets(clean), clean);
  const err = new Error("e");
  assert.equal((redactSecrets({ err }) as { err: Error }).err, err, "an error without secrets is the same object");
});

const SECRET_KEYS = ["password", "pass", "clientSecret", "client_secret", "accessToken", "access_token", "refreshToken", "refresh_token", "token", "privateKey", "private_key", "assertion", "authorization", "Authorization", "cookie", "masterKey", "x-api-key"];

test("property: a secret value under a secret field never appears in the line, at any of 6 depths", () => {
  const secret = fc.string({ minLength: 8, maxLength: 16 }).map((s) => `S3CR3T-${s.replace(/[^A-Za-z0-9]/g, "x")}`);
  const key = fc.constantFrom(...SECRET_KEYS);
  const plainKey = fc.constantFrom("a", "b", "auth", "headers", "config", "data", "0");
  const path = fc.array(fc.oneof(plainKey, fc.constant("[]")), { maxLength: 5 });
  fc.assert(
    fc.property(path, key, secret, (steps, leaf, value) => {
      let object: unknown = { [leaf]: value };
      for (const step of [...steps].reverse()) object = step === "[]" ? [object] : { [step]: object };
      const { log, lines } = capture();
      log.info(object as Record<string, unknown>, "line");
      return lines.length === 1 && !lines[0]!.includes(value);
    }),
    { numRuns: 300 },
  );
});
