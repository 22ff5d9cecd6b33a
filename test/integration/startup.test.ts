// How processes find Redis and fail at start: one clear line, never a stack trace.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { ensureRedis, redisAnswers, RedisUnavailableError } from "../../src/redis.ts";
import { createLogger } from "../../src/log.ts";
import { freePort } from "../helpers/smtp-server.ts";

const log = createLogger({ level: "silent" });

test("no Redis at the implicit default URL outside production: a redis-server child is started", async () => {
  const port = await freePort();
  const redis = await ensureRedis({ url: `redis://127.0.0.1:${port}`, urlExplicit: false, production: false, log });
  try {
    assert.notEqual(redis.url, `redis://127.0.0.1:${port}`);
    assert.equal(await redisAnswers(redis.url), true);
  } finally {
    await redis.stop();
  }
  assert.equal(await redisAnswers(redis.url, 500), false, "the child is gone after stop()");
});

test("an explicit REDIS_URL or production never falls back; the error names the fixes", async () => {
  const port = await freePort();
  for (const options of [{ urlExplicit: true, production: false }, { urlExplicit: false, production: true }]) {
    await assert.rejects(ensureRedis({ url: `redis://:pw@127.0.0.1:${port}`, log, ...options }), (err: unknown) => {
      assert.ok(err instanceof RedisUnavailableError);
      assert.match(err.message, /docker compose up -d redis/);
      assert.match(err.message, /apt-get install redis-server/);
      assert.match(err.message, /REDIS_URL/);
      assert.doesNotMatch(err.message, /:pw@/, "the password is not shown");
      return true;
    });
  }
});

function run(entry: string, env: Record<string, string>) {
  return spawnSync(process.execPath, ["--import", "tsx", entry], {
    cwd: new URL("../..", import.meta.url).pathname,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...env },
    encoding: "utf8",
    timeout: 30_000,
  });
}

test("start-up errors are one line on stderr and exit 1", async () => {
  const port = await freePort();
  const cases: [Record<string, string>, RegExp][] = [
    [{ REDIS_URL: `redis://127.0.0.1:${port}`, NOTIFY_MASTER_KEY: randomBytes(32).toString("base64") }, /^notify-smtp: Redis does not answer at redis:\/\/127\.0\.0\.1:\d+.*docker compose up -d redis/],
    [{ NODE_ENV: "production", NOTIFY_ADMIN_TOKEN: "t".repeat(32) }, /^notify-smtp: NOTIFY_MASTER_KEY is required when NODE_ENV=production/],
    [{ NOTIFY_MASTER_KEY: "short" }, /^notify-smtp: NOTIFY_MASTER_KEY must be 32 random bytes/],
    [{ NOTIFY_MASTER_KEY: randomBytes(32).toString("base64"), WORKER_CONCURRENCY: "lots" }, /^notify-smtp: WORKER_CONCURRENCY must be a whole number/],
  ];
  for (const [env, expected] of cases) {
    const result = run("workers/email-worker.ts", env);
    assert.equal(result.status, 1, result.stderr);
    const lines = result.stderr.trim().split("\n");
    assert.equal(lines.length, 1, `one line, got:\n${result.stderr}`);
    assert.match(lines[0]!, expected);
    assert.doesNotMatch(result.stderr, /\n\s+at /, "no stack trace");
  }
});
