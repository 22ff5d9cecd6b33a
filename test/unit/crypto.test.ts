import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { parseMasterKey, MasterKeyError } from "../../src/crypto/master-key.ts";
import { open, seal, SealError } from "../../src/crypto/seal.ts";
import { fingerprint } from "../../src/crypto/fingerprint.ts";

const key = parseMasterKey(randomBytes(32).toString("base64"), "test");
const other = parseMasterKey(randomBytes(32).toString("base64"), "test");

test("seal → open round-trips and hides the plaintext", () => {
  const envelope = seal(key, "hunter2-password", "smtp-config:p1");
  assert.ok(envelope.startsWith(`v1.${key.id}.`));
  assert.ok(!envelope.includes("hunter2"));
  assert.equal(open(key, envelope, "smtp-config:p1"), "hunter2-password");
  assert.notEqual(seal(key, "same", "a"), seal(key, "same", "a"), "a fresh IV every time");
});

test("open refuses another key, another place (AAD) and tampering", () => {
  const envelope = seal(key, "secret", "smtp-config:p1");
  assert.throws(() => open(other, envelope, "smtp-config:p1"), /master key/);
  assert.throws(() => open(key, envelope, "smtp-config:p2"), SealError);
  const body = Buffer.from(envelope.split(".")[2]!, "base64url");
  body[14]! ^= 1;
  assert.throws(() => open(key, `v1.${key.id}.${body.toString("base64url")}`, "smtp-config:p1"), /authentication/);
  assert.throws(() => open(key, "not-an-envelope", "x"), SealError);
});

test("master keys must be exactly 32 base64 bytes", () => {
  assert.throws(() => parseMasterKey(randomBytes(16).toString("base64"), "NOTIFY_MASTER_KEY"), MasterKeyError);
  assert.throws(() => parseMasterKey("not base64 at all!", "NOTIFY_MASTER_KEY"), /NOTIFY_MASTER_KEY/);
});

test("fingerprints are keyed, stable and unambiguous", () => {
  assert.equal(fingerprint(key, "a", "b"), fingerprint(key, "a", "b"));
  assert.notEqual(fingerprint(key, "ab", "c"), fingerprint(key, "a", "bc"));
  assert.notEqual(fingerprint(key, "a"), fingerprint(other, "a"));
  assert.ok(!fingerprint(key, "password123").includes("password123"));
});
