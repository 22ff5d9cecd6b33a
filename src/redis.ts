// ioredis connections, and finding (or, in development, starting) a Redis to talk to.
import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import type { Redis } from "ioredis";
import type { Logger } from "./log.ts";
import { parseRedisUrl, redactUrl } from "./redis/url.ts";
import { redisAnswers } from "./redis/connect.ts";

export type { Redis };
export { connectRedis, isCluster, slotNode, redisAnswers, RECONNECT_MAX_MS, type ConnectOptions } from "./redis/connect.ts";
export { parseRedisUrl, redactUrl, RedisUrlError, type RedisTarget, type RedisTopology } from "./redis/url.ts";

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
  const target = parseRedisUrl(url);
  // A local child stands in only for the plain default; TLS, Sentinel and Cluster are meant.
  const plain = target.topology === "standalone" && !target.tls;
  if (options.production || options.urlExplicit || !plain) {
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
