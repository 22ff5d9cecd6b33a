// `.env` in the working directory: read at start, real environment variables win.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadEnvFile } from "../../src/env-file.ts";
import { ConfigError } from "../../src/config.ts";

function withDir(body: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), "notify-envfile-"));
  try {
    body(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("values from .env fill in what the environment does not set; the environment wins", () => {
  withDir((dir) => {
    writeFileSync(join(dir, ".env"), [
      "# a comment",
      "NOTIFY_PREFIX={from-file}",
      'DEFAULT_FROM="Acme Status <status@acme.test>"',
      "export LOG_LEVEL=debug",
      "PORT=4000",
      "REDIS_URL=",
      "NODE_EXTRA_CA_CERTS=/etc/ssl/ca.pem",
    ].join("\n"));
    const env: NodeJS.ProcessEnv = { PORT: "5000" };
    const result = loadEnvFile({ cwd: dir, env });
    assert.ok(result);
    assert.equal(result.file, join(dir, ".env"));
    assert.equal(env.NOTIFY_PREFIX, "{from-file}");
    assert.equal(env.DEFAULT_FROM, "Acme Status <status@acme.test>");
    assert.equal(env.LOG_LEVEL, "debug");
    assert.equal(env.PORT, "5000", "the real environment wins");
    assert.equal(env.REDIS_URL, "", "an empty value is set as empty (loadSettings treats it as unset)");
    assert.deepEqual(result.overridden, ["PORT"]);
    assert.deepEqual(result.tooLate, ["NODE_EXTRA_CA_CERTS"]);
    assert.ok(result.applied.includes("NOTIFY_PREFIX") && !result.applied.includes("PORT"));
  });
});

test("no .env is not an error; an unreadable one is one clear line", () => {
  withDir((dir) => {
    assert.equal(loadEnvFile({ cwd: dir, env: {} }), undefined);
    writeFileSync(join(dir, ".env"), "A=1\n");
    chmodSync(join(dir, ".env"), 0o000);
    // root reads anything: only assert the error where permissions bite.
    if (process.getuid?.() === 0) return;
    assert.throws(() => loadEnvFile({ cwd: dir, env: {} }), (e: unknown) => e instanceof ConfigError && /cannot read .*\.env \(EACCES\)/.test(e.message));
  });
});
