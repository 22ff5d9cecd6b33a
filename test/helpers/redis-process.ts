// One redis-server (or sentinel) process of a test deployment: started from the installed
// binary with a config file in its own temp dir, on a free loopback port; killed with -9 and
// restarted on the same port and dir by fault tests. Building block of redis-cluster.ts and
// redis-sentinel.ts. Every process is SIGKILLed if the test process exits first.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { freePort } from "./smtp-server.ts";

const run = promisify(execFile);

export interface RedisProcess {
  readonly port: number;
  readonly dir: string;
  readonly running: boolean;
  /** SIGKILL: no shutdown save, no goodbye to peers (what a crash or an OOM kill does). */
  kill9(): Promise<void>;
  /** Starts it again, same port, dir and config (a sentinel's rewritten config included). */
  restart(): Promise<void>;
  /** `redis-cli -p <port> [auth] …args`; the reply as text. */
  cli(...args: string[]): Promise<string>;
  /** Kills it and removes its dir. */
  remove(): Promise<void>;
}

export interface RedisProcessOptions {
  /** Lines of its config file (after port, bind and dir). */
  config: string[];
  /** Run as a sentinel. */
  sentinel?: boolean;
  /** redis-cli authentication, e.g. ["--user", "u", "--pass", "p"] or ["-a", "p"]. */
  cliAuth?: string[];
  port?: number;
  name?: string;
}

const live = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of live) child.kill("SIGKILL");
});

export async function startRedisProcess(options: RedisProcessOptions): Promise<RedisProcess> {
  const port = options.port ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), `notify-${options.name ?? "redis"}-`));
  const file = join(dir, options.sentinel ? "sentinel.conf" : "redis.conf");
  writeFileSync(file, [`port ${port}`, "bind 127.0.0.1", `dir ${dir}`, `logfile ${join(dir, "server.log")}`, ...options.config, ""].join("\n"));
  let child: ChildProcess | undefined;
  const cliAuth = options.cliAuth ?? [];
  const cli = async (...args: string[]) => {
    const { stdout } = await run("redis-cli", ["-h", "127.0.0.1", "-p", String(port), ...cliAuth, "--no-auth-warning", ...args], { timeout: 5000 });
    return stdout.trim();
  };

  const start = async () => {
    const proc = spawn("redis-server", options.sentinel ? [file, "--sentinel"] : [file], { stdio: "ignore" });
    child = proc;
    live.add(proc);
    proc.once("exit", () => {
      live.delete(proc);
      if (child === proc) child = undefined;
    });
    const deadline = Date.now() + 10_000;
    for (;;) {
      const reply = await cli("PING").catch(() => "");
      if (reply === "PONG") return;
      if (!child) throw new Error(`redis-server on ${port} exited at start; see ${join(dir, "server.log")}`);
      if (Date.now() > deadline) throw new Error(`redis-server on ${port} did not answer PING within 10 s (got "${reply}")`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const kill9 = async () => {
    const proc = child;
    if (!proc) return;
    const gone = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
    proc.kill("SIGKILL");
    await gone;
  };

  await start();
  return {
    port,
    dir,
    get running() {
      return child !== undefined;
    },
    kill9,
    restart: start,
    cli,
    async remove() {
      await kill9();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Polls `check` until it returns a value (not undefined), or fails after `timeoutMs`. */
export async function until<T>(check: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The last lines of each process's log, for a failure message. */
export function logTails(processes: RedisProcess[], lines = 15): string {
  return processes
    .map((p) => {
      const file = join(p.dir, "server.log");
      const tail = existsSync(file) ? readFileSync(file, "utf8").trim().split("\n").slice(-lines) : [];
      return `--- redis ${p.port} (${p.running ? "running" : "down"})\n${tail.join("\n")}`;
    })
    .join("\n");
}
