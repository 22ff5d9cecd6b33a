// Environment → one typed, validated settings object. Everything else receives `Settings`
// (or a slice of it) as a parameter; nothing reads process.env on its own.
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { parseMasterKey, withPreviousKeys, type MasterKey } from "./crypto/master-key.ts";
import { ConfigError } from "./config-error.ts";
import { keptDevSecret, secretSetting } from "./secret-sources.ts";

export { ConfigError };
import { parseRedisUrl, RedisUrlError, type RedisTarget } from "./redis/url.ts";

export interface Settings {
  /** NODE_ENV=production: no generated secrets, no dev inbox, no private targets by default. */
  production: boolean;
  /** REDIS_URL, default redis://127.0.0.1:6379. */
  redisUrl: string;
  /** True when REDIS_URL was set; only an implicit URL may fall back to a spawned redis-server. */
  redisUrlExplicit: boolean;
  /**
   * REDIS_WAIT_REPLICAS, default 0: an enqueue's 202 and a 250 marker wait until this many
   * replicas have the write (Redis WAIT); fewer within the wait's timeout makes the enqueue
   * fail with RedisUnavailableError (503) instead of acknowledging a write a failover may lose.
   */
  redisWaitReplicas: number;
  /** NOTIFY_PREFIX, default `{notify}` (a hash tag, so one deployment fits one Cluster slot). */
  prefix: string;
  /**
   * NOTIFY_MASTER_KEY: seals and fingerprints. Its `previous` holds NOTIFY_MASTER_KEY_PREVIOUS
   * (comma-separated base64 keys, default none): they only open envelopes sealed before a
   * rotation, until `notify-smtp keys rotate` has resealed everything under the current key.
   */
  masterKey: MasterKey;
  /** Where the master key came from, for the start-up log line. */
  masterKeySource: "env" | "file" | "generated";
  adminToken: string;
  /** True for a development token (outside production, no NOTIFY_ADMIN_TOKEN): kept in `.data/admin.token`. */
  adminTokenGenerated: boolean;
  /** Where the admin token came from: NOTIFY_ADMIN_TOKEN, NOTIFY_ADMIN_TOKEN_FILE, or `.data/admin.token` (new or kept). */
  adminTokenSource: "env" | "file" | "generated" | "kept";
  host: string;
  port: number;
  workerConcurrency: number;
  /** METRICS_PORT: a worker-only process serves /metrics and /healthz here (off when unset). */
  metricsPort: number | undefined;
  defaultSmtpUrl: string | undefined;
  defaultFrom: string | undefined;
  allowPrivateTargets: boolean;
  logLevel: string;
  /** Delivery attempts per job (JOB_ATTEMPTS, default 8). */
  attempts: number;
  /** First retry delay; doubles each attempt, with jitter (JOB_BACKOFF_MS, default 2000). */
  backoffMs: number;
  /** Cap on one retry delay (JOB_BACKOFF_MAX_MS, default 15 min). */
  backoffMaxMs: number;
  /** Total time one send may take, from connect to the final reply (SEND_TIMEOUT_MS, default 120000). */
  sendTimeoutMs: number;
  /** Longest a job waits in all for a mailbox that throttles us (JOB_THROTTLE_MAX_MS, default 6 h). */
  throttleMaxMs: number;
  /** Longest a job waits for a mailbox's open breaker before failing (BREAKER_MAX_WAIT_MS, default 1 h; 0 fails at once). */
  breakerMaxWaitMs: number;
  /** Directory for generated development secrets (.data/). */
  dataDir: string;
}

export interface LoadSettingsOptions {
  /** Where `.data/` lives; defaults to the current directory. */
  cwd?: string;
}

export function loadSettings(env: NodeJS.ProcessEnv = process.env, options: LoadSettingsOptions = {}): Settings {
  const production = env.NODE_ENV === "production";
  const dataDir = join(options.cwd ?? process.cwd(), ".data");

  const redisUrl = env.REDIS_URL?.trim() || "redis://127.0.0.1:6379";
  const redisTarget = redisSetting(redisUrl);
  const prefix = env.NOTIFY_PREFIX?.trim() || "{notify}";
  if (redisTarget.topology === "cluster" && !hasHashTag(prefix)) {
    throw new ConfigError(`NOTIFY_PREFIX must contain a hash tag such as {notify} on a Redis Cluster, so that every key lands in one slot (got "${prefix}")`);
  }

  const { masterKey: currentKey, masterKeySource } = resolveMasterKey(env, production, dataDir);
  const masterKey = withPreviousKeys(currentKey, previousMasterKeys(env));

  const { adminToken, adminTokenSource } = resolveAdminToken(env, production, dataDir);
  const adminTokenGenerated = adminTokenSource === "generated" || adminTokenSource === "kept";

  const defaultSmtpUrl = env.DEFAULT_SMTP_URL?.trim() || undefined;
  if (defaultSmtpUrl && !/^smtps?:\/\//.test(defaultSmtpUrl)) {
    throw new ConfigError("DEFAULT_SMTP_URL must start with smtp:// or smtps://");
  }

  return {
    production,
    redisUrl,
    redisUrlExplicit: Boolean(env.REDIS_URL?.trim()),
    redisWaitReplicas: intSetting(env, "REDIS_WAIT_REPLICAS", 0, 0, 100),
    prefix,
    masterKey,
    masterKeySource,
    adminToken,
    adminTokenGenerated,
    adminTokenSource,
    host: env.HOST?.trim() || "127.0.0.1",
    port: intSetting(env, "PORT", 3000, 0, 65535),
    workerConcurrency: intSetting(env, "WORKER_CONCURRENCY", 20, 1, 1000),
    metricsPort: env.METRICS_PORT?.trim() ? intSetting(env, "METRICS_PORT", 0, 1, 65535) : undefined,
    defaultSmtpUrl,
    defaultFrom: env.DEFAULT_FROM?.trim() || undefined,
    allowPrivateTargets: boolSetting(env, "NOTIFY_ALLOW_PRIVATE_TARGETS", !production),
    logLevel: env.LOG_LEVEL?.trim() || "info",
    attempts: intSetting(env, "JOB_ATTEMPTS", 8, 1, 100),
    backoffMs: intSetting(env, "JOB_BACKOFF_MS", 2000, 1, 3_600_000),
    backoffMaxMs: intSetting(env, "JOB_BACKOFF_MAX_MS", 15 * 60_000, 1, 24 * 3_600_000),
    sendTimeoutMs: intSetting(env, "SEND_TIMEOUT_MS", 120_000, 100, 3_600_000),
    throttleMaxMs: intSetting(env, "JOB_THROTTLE_MAX_MS", 6 * 3_600_000, 0, 7 * 24 * 3_600_000),
    breakerMaxWaitMs: intSetting(env, "BREAKER_MAX_WAIT_MS", 3_600_000, 0, 7 * 24 * 3_600_000),
    dataDir,
  };
}

function resolveMasterKey(env: NodeJS.ProcessEnv, production: boolean, dataDir: string): Pick<Settings, "masterKey" | "masterKeySource"> {
  const fromEnv = secretSetting(env, "NOTIFY_MASTER_KEY");
  if (fromEnv) return { masterKey: parseMasterKey(fromEnv.value, fromEnv.file ?? "NOTIFY_MASTER_KEY"), masterKeySource: "env" };
  if (production) {
    throw new ConfigError("NOTIFY_MASTER_KEY is required when NODE_ENV=production (32 random bytes, base64: `openssl rand -base64 32`; or NOTIFY_MASTER_KEY_FILE naming a file that holds it)");
  }
  const file = join(dataDir, "master.key");
  if (existsSync(file)) {
    return { masterKey: parseMasterKey(readFileSync(file, "utf8").trim(), file), masterKeySource: "file" };
  }
  const generated = randomBytes(32).toString("base64");
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  // `wx`: two processes starting at once must not overwrite each other's key.
  try {
    writeFileSync(file, generated + "\n", { mode: 0o600, flag: "wx" });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    return { masterKey: parseMasterKey(readFileSync(file, "utf8").trim(), file), masterKeySource: "file" };
  }
  return { masterKey: parseMasterKey(generated, file), masterKeySource: "generated" };
}

function previousMasterKeys(env: NodeJS.ProcessEnv): MasterKey[] {
  const raw = env.NOTIFY_MASTER_KEY_PREVIOUS?.trim();
  if (!raw) return [];
  return raw.split(",").map((entry, i, all) => parseMasterKey(entry.trim(), all.length > 1 ? `NOTIFY_MASTER_KEY_PREVIOUS (key ${i + 1})` : "NOTIFY_MASTER_KEY_PREVIOUS"));
}

function resolveAdminToken(env: NodeJS.ProcessEnv, production: boolean, dataDir: string): Pick<Settings, "adminToken" | "adminTokenSource"> {
  const given = secretSetting(env, "NOTIFY_ADMIN_TOKEN");
  if (given) {
    if (given.value.length < 16) throw new ConfigError(`${given.source === "file" ? "NOTIFY_ADMIN_TOKEN_FILE's content" : "NOTIFY_ADMIN_TOKEN"} must be at least 16 characters`);
    return { adminToken: given.value, adminTokenSource: given.source };
  }
  if (production) throw new ConfigError("NOTIFY_ADMIN_TOKEN is required when NODE_ENV=production (e.g. `openssl rand -hex 32`; or NOTIFY_ADMIN_TOKEN_FILE naming a file that holds it)");
  // Kept like the master key, so a token a developer exported keeps working after a restart.
  const kept = keptDevSecret(join(dataDir, "admin.token"), () => randomBytes(24).toString("base64url"));
  return { adminToken: kept.value, adminTokenSource: kept.created ? "generated" : "kept" };
}

/** Redis's rule: the first "{" and the first "}" after it, with something in between. */
function hasHashTag(prefix: string): boolean {
  const open = prefix.indexOf("{");
  return open >= 0 && prefix.indexOf("}", open + 1) > open + 1;
}

function redisSetting(url: string): RedisTarget {
  try {
    return parseRedisUrl(url);
  } catch (err) {
    if (err instanceof RedisUrlError) throw new ConfigError(err.message);
    throw err;
  }
}

function intSetting(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name]?.trim();
  if (!raw) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be a whole number from ${min} to ${max} (got "${raw}")`);
  }
  return value;
}

function boolSetting(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = env[name]?.trim().toLowerCase();
  if (!raw) return fallback;
  if (["1", "true", "yes", "on"].includes(raw)) return true;
  if (["0", "false", "no", "off"].includes(raw)) return false;
  throw new ConfigError(`${name} must be true or false (got "${raw}")`);
}
