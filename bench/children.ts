// The benchmark's child processes: the SMTP sink (bench/sink.ts) and the product's workers
// (workers/email-worker.ts), and stopping them.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { createRequire } from "node:module";
import { randomBytes } from "node:crypto";
import { createWriteStream, type WriteStream } from "node:fs";
import { join } from "node:path";
import { CONCURRENCY, ROOT, STALL_MS, WORKER_LOG } from "./config.ts";
import type { FromSink, ToSink } from "./sink-protocol.ts";

export interface SinkStats {
  count: number;
  cpuMicros: number;
  connections: number;
  refusedLogins: number;
}

export class Sink {
  private reachedWaiters: ((count: number) => void)[] = [];
  private statsWaiters: ((stats: SinkStats) => void)[] = [];
  private timesWaiters: ((entries: [string, number][]) => void)[] = [];
  /** Last count pushed by the sink, and when it last changed. */
  count = 0;
  lastChangeAt = performance.now();

  private constructor(
    readonly child: ChildProcess,
    /** No STARTTLS, AUTH in the clear. */
    readonly plainPort: number,
    /** STARTTLS with the bench certificate. */
    readonly tlsPort: number,
  ) {
    child.on("message", (raw: unknown) => {
      const message = raw as FromSink;
      if (message.type === "progress") {
        if (message.count !== this.count) this.lastChangeAt = performance.now();
        this.count = message.count;
      } else if (message.type === "reached") {
        this.count = Math.max(this.count, message.count);
        this.lastChangeAt = performance.now();
        this.reachedWaiters.shift()?.(message.count);
      } else if (message.type === "stats") {
        this.statsWaiters.shift()?.(message);
      } else if (message.type === "times") {
        this.timesWaiters.shift()?.(message.entries);
      }
    });
  }

  static start(init: { key: string; cert: string; tokenKey: string }, abort: AbortController): Promise<Sink> {
    const child = spawn(process.execPath, ["--import", "tsx", join(ROOT, "bench", "sink.ts")], {
      cwd: ROOT,
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    child.on("exit", (code, signal) => abort.abort(new Error(`the SMTP sink exited (code ${code}, signal ${signal})`)));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("the SMTP sink did not start within 15 s")), 15_000);
      child.once("error", (err) => {
        clearTimeout(timer);
        reject(err);
      });
      const onMessage = (raw: unknown) => {
        const message = raw as FromSink;
        if (message.type !== "ready") return;
        child.off("message", onMessage);
        clearTimeout(timer);
        resolve(new Sink(child, message.plainPort, message.tlsPort));
      };
      child.on("message", onMessage);
      child.send({ type: "init", ...init } satisfies ToSink);
      abort.signal.addEventListener("abort", () => reject(abort.signal.reason), { once: true });
    });
  }

  private send(message: ToSink): void {
    this.child.send(message);
  }

  /**
   * Resolves with `performance.now()` at the moment the sink reports `total` messages counted.
   * Rejects when the count stalls for STALL_MS or the run is aborted (a child died, Ctrl-C).
   */
  waitFor(total: number, signal: AbortSignal): Promise<number> {
    this.lastChangeAt = performance.now();
    return new Promise((resolve, reject) => {
      const stallCheck = setInterval(() => {
        if (performance.now() - this.lastChangeAt > STALL_MS) {
          done();
          reject(new Error(`delivery stalled: the sink has counted ${this.count} of ${total} messages and nothing arrived for ${STALL_MS / 1000} s`));
        }
      }, 500);
      const onAbort = () => {
        done();
        reject(signal.reason);
      };
      const done = () => {
        clearInterval(stallCheck);
        signal.removeEventListener("abort", onAbort);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.reachedWaiters.push(() => {
        const at = performance.now();
        done();
        resolve(at);
      });
      this.send({ type: "target", n: total });
    });
  }

  private ask<T>(waiters: ((value: T) => void)[], message: ToSink): Promise<T> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the sink did not answer a ${message.type} request`)), 10_000);
      waiters.push((value) => {
        clearTimeout(timer);
        resolve(value);
      });
      this.send(message);
    });
  }

  stats(): Promise<SinkStats> {
    return this.ask(this.statsWaiters, { type: "stats" });
  }

  /** Note the time of each 250 to a recipient starting with `prefix` (null: stop noting). */
  record(prefix: string | null): void {
    this.send({ type: "record", prefix });
  }

  /** What was noted since the last call: recipient → monotonic ms of its 250. */
  async times(): Promise<Map<string, number>> {
    return new Map(await this.ask(this.timesWaiters, { type: "times" }));
  }
}

export interface WorkerHandle {
  child: ChildProcess;
  /** Stops the worker on purpose (an exit before this aborts the run). */
  stop(graceMs: number): Promise<void>;
}

let log: WriteStream | undefined;

export interface WorkerSettings {
  redisUrl: string;
  prefix: string;
  masterKeyB64: string;
  /** NODE_EXTRA_CA_CERTS: the bench CA, which signed the sink's and the token endpoint's certificates. */
  caFile: string;
}

/**
 * BENCH_WORKER=source: workers run from the TypeScript sources through tsx, as `npm run
 * worker` does (about 50 MB more RSS for the loader). Default: the compiled worker the image
 * runs (`node dist/workers/email-worker.js`), built by `buildWorker()` first.
 */
const WORKER_FROM_SOURCE = process.env.BENCH_WORKER === "source";

/** Compiles dist/ (`npm run build`), so the workers are the code just measured. */
export function buildWorker(): void {
  if (WORKER_FROM_SOURCE) return;
  const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
  execFileSync(process.execPath, [tsc, "-p", "tsconfig.build.json"], { cwd: ROOT, stdio: ["ignore", "inherit", "inherit"] });
}

/**
 * One worker process, as the image runs it in production (see BENCH_WORKER), logging to
 * bench/worker.log. Extra node flags come from BENCH_WORKER_NODE_ARGS.
 */
export function startWorker(settings: WorkerSettings, abort: AbortController): WorkerHandle {
  log ??= createWriteStream(WORKER_LOG);
  const workerNodeArgs = process.env.BENCH_WORKER_NODE_ARGS?.trim().split(/\s+/).filter(Boolean) ?? [];
  // BENCH_WORKER_ENTRY (read at each start, so bench/ab.ts can set it per side): another
  // compiled worker, e.g. a build of the commit before, to compare two builds under one load.
  const entry = process.env.BENCH_WORKER_ENTRY ? [process.env.BENCH_WORKER_ENTRY] : WORKER_FROM_SOURCE ? ["--import", "tsx", "workers/email-worker.ts"] : ["dist/workers/email-worker.js"];
  const child = spawn(process.execPath, [...workerNodeArgs, ...entry], {
    cwd: ROOT,
    env: {
      ...process.env,
      REDIS_URL: settings.redisUrl,
      NOTIFY_PREFIX: settings.prefix,
      NOTIFY_MASTER_KEY: settings.masterKeyB64,
      NOTIFY_ADMIN_TOKEN: randomBytes(24).toString("hex"),
      NOTIFY_ALLOW_PRIVATE_TARGETS: "true",
      NODE_EXTRA_CA_CERTS: settings.caFile,
      // What production runs by default: one info line per delivered email.
      LOG_LEVEL: process.env.LOG_LEVEL ?? "info",
      NODE_ENV: "production",
      WORKER_CONCURRENCY: String(CONCURRENCY),
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });
  let stopping = false;
  child.on("exit", (code, sig) => {
    if (!stopping) abort.abort(new Error(`a worker exited early (code ${code}, signal ${sig}); see bench/worker.log`));
  });
  return {
    child,
    stop: (graceMs) => {
      stopping = true;
      return stopChild(child, graceMs);
    },
  };
}

function alive(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the process has exited. */
export function stopChild(child: ChildProcess, graceMs: number): Promise<void> {
  if (!alive(child)) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill("SIGTERM");
  });
}
