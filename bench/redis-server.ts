// The bench's own redis-server on a free loopback port, no persistence: every product phase
// talks to it, so its INFO (commandstats, memory, reads) counts our traffic and nobody else's,
// and the shared Redis is never touched.
import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { Redis } from "ioredis";

export interface BenchRedis {
  url: string;
  port: number;
  process: ChildProcess;
  /** A connection for the bench's own reads (INFO, SCAN). */
  client: Redis;
  stop(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no free port"))));
    });
  });
}

export async function startRedis(onExit: (err: Error) => void): Promise<BenchRedis> {
  const port = await freePort();
  const child = spawn("redis-server", ["--bind", "127.0.0.1", "--port", String(port), "--save", "", "--appendonly", "no", "--dir", tmpdir()], { stdio: "ignore" });
  let stopping = false;
  const spawned = new Promise<void>((resolve, reject) => {
    child.once("error", (err) => reject(new Error(`could not start redis-server (is it on PATH? apt-get install redis-server): ${err.message}`)));
    child.once("spawn", () => resolve());
  });
  child.on("exit", (code, signal) => {
    if (!stopping) onExit(new Error(`the bench's redis-server exited (code ${code}, signal ${signal})`));
  });
  await spawned;
  const url = `redis://127.0.0.1:${port}`;
  const client = new Redis(url, { maxRetriesPerRequest: 3, connectionName: "notify-bench", retryStrategy: (n) => (n > 50 ? null : 100) });
  client.on("error", () => {});
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      if ((await client.ping()) === "PONG") break;
    } catch {
      if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not answer within 10 s`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    url,
    port,
    process: child,
    client,
    async stop() {
      stopping = true;
      client.disconnect();
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      child.kill("SIGKILL");
      await gone;
    },
  };
}

/** `INFO <section>` as name → value. */
export async function info(redis: Redis, section: string): Promise<Map<string, string>> {
  const text = await redis.info(section);
  const fields = new Map<string, string>();
  for (const line of text.split("\r\n")) {
    const i = line.indexOf(":");
    if (i > 0 && !line.startsWith("#")) fields.set(line.slice(0, i), line.slice(i + 1));
  }
  return fields;
}

/** Calls per command so far (`INFO commandstats`), commands called from scripts included. */
export async function commandCalls(redis: Redis): Promise<Map<string, number>> {
  const calls = new Map<string, number>();
  for (const [key, value] of await info(redis, "commandstats")) {
    const match = /^calls=(\d+)/.exec(value);
    if (key.startsWith("cmdstat_") && match) calls.set(key.slice("cmdstat_".length), Number(match[1]));
  }
  return calls;
}

export async function usedMemory(redis: Redis): Promise<number> {
  return Number((await info(redis, "memory")).get("used_memory") ?? NaN);
}

/** Read events on client sockets so far: a request, or a pipeline of them, arriving is one. */
export async function readsProcessed(redis: Redis): Promise<number> {
  return Number((await info(redis, "stats")).get("total_reads_processed") ?? NaN);
}

export async function redisCpuSeconds(redis: Redis): Promise<number | null> {
  const cpu = await info(redis, "cpu");
  const user = Number(cpu.get("used_cpu_user"));
  const sys = Number(cpu.get("used_cpu_sys"));
  return Number.isFinite(user) && Number.isFinite(sys) ? user + sys : null;
}
