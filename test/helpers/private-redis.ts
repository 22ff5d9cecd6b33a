// A redis-server of the test's own, on a free loopback port, in a temp dir, with AOF
// (appendfsync always: an acknowledged write survives kill -9). Fault tests kill and restart
// it; the shared Redis at 6379 is never touched.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { freePort } from "./smtp-server.ts";

export interface PrivateRedis {
  port: number;
  url: string;
  dir: string;
  /** Is a server process running now? */
  readonly running: boolean;
  /** SIGKILL, no shutdown save: what a crash or an OOM kill does. */
  kill9(): Promise<void>;
  /** Starts it again on the same port and dir (it reloads its AOF). */
  restart(): Promise<void>;
  /** Stops it for good and removes its dir. */
  stop(): Promise<void>;
}

export interface PrivateRedisOptions {
  /** Extra redis-server arguments, e.g. ["--requirepass", "x"]. */
  args?: string[];
}

export async function startPrivateRedis(options: PrivateRedisOptions = {}): Promise<PrivateRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "notify-redis-"));
  const args = [
    "--bind", "127.0.0.1", "--port", String(port), "--dir", dir, "--save", "",
    "--appendonly", "yes", "--appendfsync", "always", "--logfile", join(dir, "redis.log"),
    ...(options.args ?? []),
  ];
  let child: ChildProcess | undefined;

  const start = async () => {
    const proc = spawn("redis-server", args, { stdio: "ignore" });
    child = proc;
    proc.once("exit", () => {
      if (child === proc) child = undefined;
    });
    await waitForPing(port, 10_000);
  };
  const killHard = async () => {
    const proc = child;
    if (!proc) return;
    const gone = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
    proc.kill("SIGKILL");
    await gone;
  };
  // No orphan redis-server if the test process dies without its after() hooks.
  process.once("exit", () => child?.kill("SIGKILL"));

  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    dir,
    get running() {
      return child !== undefined;
    },
    kill9: killHard,
    restart: start,
    async stop() {
      await killHard();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function waitForPing(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const probe = new Redis({ port, host: "127.0.0.1", lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on("error", () => {});
    try {
      await probe.connect();
      // While it loads its AOF it answers LOADING; only PONG means ready.
      if ((await probe.ping()) === "PONG") return;
    } catch {
      // not yet
    } finally {
      probe.disconnect();
    }
    if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not answer within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
