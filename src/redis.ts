// ioredis connections, and finding (or, in development, starting) a Redis to talk to.
import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { Redis, type RedisOptions } from "ioredis";
import type { Logger } from "./log.ts";
import type { RedisHealth } from "./redis/health.ts";

export type { Redis };

export interface ConnectOptions {
  /** BullMQ workers need `null` (block forever on BRPOPLPUSH-style commands); producers fail fast. */
  maxRetriesPerRequest?: number | null;
  /** Batch commands issued in the same tick into one round trip (used on the hot path). */
  autoPipelining?: boolean;
  connectionName?: string;
  /** Reports outages once per process; absent, the connection's errors are swallowed (they
   *  surface as rejected commands), never dumped to stderr by ioredis. */
  health?: RedisHealth;
}

/** Longest pause between reconnect attempts. Short, so that every connection of every
 *  replica is back within about a second of Redis (the 250 markers rely on it, see deliver.ts). */
export const RECONNECT_MAX_MS = 1000;

export function connectRedis(url: string, options: ConnectOptions = {}): Redis {
  const redisOptions: RedisOptions = {
    maxRetriesPerRequest: options.maxRetriesPerRequest === undefined ? 3 : options.maxRetriesPerRequest,
    enableAutoPipelining: options.autoPipelining ?? false,
    connectionName: options.connectionName,
    // Reconnect forever: Redis restarts must not kill workers.
    retryStrategy: (times) => Math.min(50 * times, RECONNECT_MAX_MS - 200) + Math.round(Math.random() * 200),
  };
  const connection = new Redis(url, redisOptions);
  if (options.health) options.health.watch(connection, options.connectionName ?? "redis");
  else connection.on("error", () => {});
  return connection;
}

/** QUIT, but never waiting long on a Redis that is away (a worker connection would wait forever). */
export async function closeConnection(connection: Redis, waitMs = 1000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, waitMs)));
  await Promise.race([connection.quit().catch(() => undefined), late]);
  clearTimeout(timer);
  connection.disconnect();
}

export class RedisUnavailableError extends Error {
  override name = "RedisUnavailableError";
}

/** True when something at `url` answers PING within `timeoutMs`. */
export async function redisAnswers(url: string, timeoutMs = 1500): Promise<boolean> {
  const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: timeoutMs, retryStrategy: () => null });
  probe.on("error", () => {});
  try {
    await probe.connect();
    return (await probe.ping()) === "PONG";
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}

export interface EnsuredRedis {
  url: string;
  /** Stops the child redis-server, if one was started. */
  stop(): Promise<void>;
}

export interface EnsureRedisOptions {
  url: string;
  /** Only an implicit default URL may be replaced by a spawned server. */
  urlExplicit: boolean;
  production: boolean;
  log: Logger;
}

/**
 * Makes sure Redis answers. Outside production, when the default URL has nothing behind it,
 * starts a `redis-server` from PATH on a free loopback port with no persistence.
 */
export async function ensureRedis(options: EnsureRedisOptions): Promise<EnsuredRedis> {
  const { url, log } = options;
  if (await redisAnswers(url)) return { url, stop: async () => {} };
  const fixes = "start one (`docker compose up -d redis` or `apt-get install redis-server`) or set REDIS_URL";
  if (options.production || options.urlExplicit) {
    throw new RedisUnavailableError(`Redis does not answer at ${redactUrl(url)}: ${fixes}`);
  }
  const port = await freePort();
  let child: ChildProcess;
  try {
    child = await startRedisServer(port);
  } catch {
    throw new RedisUnavailableError(`Redis does not answer at ${redactUrl(url)} and no redis-server is on PATH: ${fixes}`);
  }
  const childUrl = `redis://127.0.0.1:${port}`;
  for (let i = 0; i < 50; i++) {
    if (await redisAnswers(childUrl, 500)) {
      log.warn({ url: childUrl }, "no Redis at the default URL: started a redis-server child process (no persistence)");
      return {
        url: childUrl,
        stop: () => new Promise<void>((resolve) => {
          if (child.exitCode !== null) return resolve();
          child.once("exit", () => resolve());
          child.kill("SIGTERM");
        }),
      };
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill("SIGKILL");
  throw new RedisUnavailableError(`started redis-server on port ${port} but it did not answer: ${fixes}`);
}

function startRedisServer(port: number): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn("redis-server", ["--bind", "127.0.0.1", "--port", String(port), "--save", "", "--appendonly", "no"], {
      stdio: "ignore",
    });
    child.once("error", reject);
    child.once("spawn", () => resolve(child));
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return "(unparseable URL)";
  }
}
