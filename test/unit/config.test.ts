import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { loadSettings, ConfigError } from "../../src/config.ts";
import { MasterKeyError } from "../../src/crypto/master-key.ts";
import { parseSmtpUrl, parseFrom } from "../../src/smtp-config/default-server.ts";

test("defaults outside production: admin token and master key generated once into .data/ and kept", () => {
  const cwd = mkdtempSync(join(tmpdir(), "notify-config-"));
  try {
    const first = loadSettings({}, { cwd });
    assert.equal(first.redisUrl, "redis://127.0.0.1:6379");
    assert.equal(first.prefix, "{notify}");
    assert.equal(first.port, 3000);
    assert.equal(first.workerConcurrency, 20);
    assert.equal(first.allowPrivateTargets, true);
    assert.equal(first.adminTokenGenerated, true);
    assert.equal(first.adminTokenSource, "generated");
    assert.equal(first.masterKeySource, "generated");
    assert.equal(statSync(join(cwd, ".data", "master.key")).mode & 0o777, 0o600);
    assert.equal(statSync(join(cwd, ".data", "admin.token")).mode & 0o777, 0o600);
    assert.equal(readFileSync(join(cwd, ".data", "admin.token"), "utf8").trim(), first.adminToken);
    const second = loadSettings({}, { cwd });
    assert.equal(second.masterKeySource, "file");
    assert.equal(second.masterKey.id, first.masterKey.id);
    // A restart keeps the token, so one a developer exported keeps working.
    assert.equal(second.adminToken, first.adminToken);
    assert.equal(second.adminTokenSource, "kept");
    assert.equal(second.adminTokenGenerated, true);
    // NOTIFY_ADMIN_TOKEN wins over the kept one.
    const given = loadSettings({ NOTIFY_ADMIN_TOKEN: "g".repeat(20) }, { cwd });
    assert.deepEqual([given.adminToken, given.adminTokenSource, given.adminTokenGenerated], ["g".repeat(20), "env", false]);
    assert.ok(readFileSync(join(cwd, ".data", "master.key"), "utf8").trim().length > 40);
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
});

test("production requires the master key and the admin token, and blocks private targets", () => {
  assert.throws(() => loadSettings({ NODE_ENV: "production", NOTIFY_ADMIN_TOKEN: "x".repeat(32) }), /NOTIFY_MASTER_KEY is required/);
  assert.throws(() => loadSettings({ NODE_ENV: "production", NOTIFY_MASTER_KEY: randomBytes(32).toString("base64") }), /NOTIFY_ADMIN_TOKEN is required/);
  const s = loadSettings({ NODE_ENV: "production", NOTIFY_MASTER_KEY: randomBytes(32).toString("base64"), NOTIFY_ADMIN_TOKEN: "t".repeat(32) });
  assert.equal(s.allowPrivateTargets, false);
  assert.equal(s.production, true);
});

test("bad values are one clear line", () => {
  const key = randomBytes(32).toString("base64");
  assert.throws(() => loadSettings({ NOTIFY_MASTER_KEY: key, PORT: "http" }), (e: unknown) => e instanceof ConfigError && /PORT must be a whole number/.test(e.message));
  assert.throws(() => loadSettings({ NOTIFY_MASTER_KEY: key, WORKER_CONCURRENCY: "0" }), /WORKER_CONCURRENCY/);
  assert.throws(() => loadSettings({ NOTIFY_MASTER_KEY: key, REDIS_URL: "http://x" }), /REDIS_URL/);
  assert.throws(() => loadSettings({ NOTIFY_MASTER_KEY: key, NOTIFY_ALLOW_PRIVATE_TARGETS: "maybe" }), /true or false/);
  assert.throws(() => loadSettings({ NOTIFY_MASTER_KEY: key, NOTIFY_ADMIN_TOKEN: "short" }), /at least 16/);
  assert.throws(() => loadSettings({ NOTIFY_MASTER_KEY: "abc" }), /32 random bytes/);
});

test("SEND_TIMEOUT_MS: 120000 by default, a whole number of ms from 100 to one hour", () => {
  const key = randomBytes(32).toString("base64");
  assert.equal(loadSettings({ NOTIFY_MASTER_KEY: key }).sendTimeoutMs, 120_000);
  assert.equal(loadSettings({ NOTIFY_MASTER_KEY: key, SEND_TIMEOUT_MS: "30000" }).sendTimeoutMs, 30_000);
  for (const bad of ["0", "99", "1.5", "soon", "3600001"]) {
    assert.throws(() => loadSettings({ NOTIFY_MASTER_KEY: key, SEND_TIMEOUT_MS: bad }), /SEND_TIMEOUT_MS must be a whole number from 100 to 3600000/, bad);
  }
});

test("DEFAULT_SMTP_URL and DEFAULT_FROM", () => {
  const c = parseSmtpUrl("smtp://us%40er:p%3Ass@mail.example.com:2525", "Acme <a@acme.test>");
  assert.deepEqual(
    { host: c.host, port: c.port, secure: c.secure, auth: c.auth },
    { host: "mail.example.com", port: 2525, secure: false, auth: { type: "password", username: "us@er", password: "p:ss" } },
  );
  const tls = parseSmtpUrl("smtps://relay.example.com", undefined);
  assert.equal(tls.port, 465);
  assert.equal(tls.secure, true);
  assert.equal(tls.auth, undefined);
  assert.deepEqual(parseFrom('"Acme Status" <status@acme.test>'), { fromEmail: "status@acme.test", fromName: "Acme Status" });
  assert.deepEqual(parseFrom("status@acme.test"), { fromEmail: "status@acme.test" });
});

test("NOTIFY_MASTER_KEY_FILE and NOTIFY_ADMIN_TOKEN_FILE: the file's trimmed content is the value", () => {
  const dir = mkdtempSync(join(tmpdir(), "notify-secrets-"));
  try {
    const key = randomBytes(32).toString("base64");
    const keyFile = join(dir, "master.key");
    const tokenFile = join(dir, "admin.token");
    writeFileSync(keyFile, `  ${key}\n`);
    writeFileSync(tokenFile, "t0ken-from-a-docker-secret\n\n");
    const s = loadSettings({ NODE_ENV: "production", NOTIFY_MASTER_KEY_FILE: keyFile, NOTIFY_ADMIN_TOKEN_FILE: tokenFile }, { cwd: dir });
    assert.equal(s.masterKey.id, loadSettings({ NOTIFY_MASTER_KEY: key }, { cwd: dir }).masterKey.id);
    assert.equal(s.adminToken, "t0ken-from-a-docker-secret");
    assert.equal(s.adminTokenSource, "file");
    assert.equal(s.adminTokenGenerated, false);

    const one = (env: Record<string, string>, expected: RegExp) =>
      assert.throws(() => loadSettings({ NODE_ENV: "production", ...env }, { cwd: dir }), (e: unknown) => (e instanceof ConfigError || e instanceof MasterKeyError) && expected.test(e.message) && !e.message.includes(key));
    one({ NOTIFY_MASTER_KEY: key, NOTIFY_MASTER_KEY_FILE: keyFile, NOTIFY_ADMIN_TOKEN_FILE: tokenFile }, /set NOTIFY_MASTER_KEY or NOTIFY_MASTER_KEY_FILE, not both/);
    one({ NOTIFY_MASTER_KEY_FILE: join(dir, "missing"), NOTIFY_ADMIN_TOKEN_FILE: tokenFile }, /NOTIFY_MASTER_KEY_FILE names .*missing, which cannot be read \(no such file\)/);
    writeFileSync(join(dir, "empty"), "\n");
    one({ NOTIFY_MASTER_KEY_FILE: keyFile, NOTIFY_ADMIN_TOKEN_FILE: join(dir, "empty") }, /NOTIFY_ADMIN_TOKEN_FILE names .*empty, which is empty/);
    writeFileSync(join(dir, "short"), "short");
    one({ NOTIFY_MASTER_KEY_FILE: keyFile, NOTIFY_ADMIN_TOKEN_FILE: join(dir, "short") }, /NOTIFY_ADMIN_TOKEN_FILE's content must be at least 16 characters/);
    writeFileSync(join(dir, "bad.key"), "not a key");
    one({ NOTIFY_MASTER_KEY_FILE: join(dir, "bad.key"), NOTIFY_ADMIN_TOKEN_FILE: tokenFile }, /bad\.key must be 32 random bytes/);
    one({ NOTIFY_MASTER_KEY_FILE: keyFile }, /NOTIFY_ADMIN_TOKEN is required when NODE_ENV=production .*NOTIFY_ADMIN_TOKEN_FILE/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
