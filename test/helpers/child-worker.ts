// Worker processes for multi-process tests: spawn `workers/email-worker.ts` (or another
// script) as a real child process joined to a harness's prefix and master key, wait until it
// says it is ready, collect its stdout (pino JSON lines), signal it, and wait for its exit.
// Every child is also SIGKILLed if the test process exits first, so none is left behind.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { testCerts } from "./certs.ts";

/** The project root (cwd of every child). */
export const PROJECT_ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** The production worker entry point (`npm run worker`). */
export const EMAIL_WORKER_SCRIPT = "workers/email-worker.ts";

/** What the worker logs once its BullMQ worker is ready (src/delivery/start.ts). */
export const READY_MESSAGE = "email worker started";

/** test/helpers/crash-worker.ts: a worker that SIGKILLs itself right after writing a 250 marker. */
export const CRASH_WORKER_SCRIPT = "test/helpers/crash-worker.ts";

/** What the crash worker logs just before it kills itself. */
export const CRASH_MESSAGE = "crash-worker: 250 marker written; SIGKILL now";

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** One pino line from a child, parsed. */
export interface ChildLogLine {
  level?: number;
  msg?: string;
  pid?: number;
  jobId?: string;
  [key: string]: unknown;
}

export interface SpawnChildWorkerOptions {
  /** The full environment of the child (see `childWorkerEnv`). */
  env: NodeJS.ProcessEnv;
  /** Script relative to the project root. Default `workers/email-worker.ts`. */
  script?: string;
  /** A label for error messages. */
  name?: string;
  /**
   * Run this command instead of `node --import tsx <script>`, e.g. ["npm", "run", "worker"]
   * (as a user does: npm, then tsx, then node). Its process is the leader of a new process
   * group, so `signalGroup` reaches every process in the chain at once, like Ctrl-C does.
   */
  command?: string[];
  /** Working directory (where `.env` and `.data/` are looked for). Default: the project root. */
  cwd?: string;
  /** Run `script` (compiled JavaScript) with plain node, without tsx. Default false. */
  node?: boolean;
}

export interface ChildWorker {
  readonly name: string;
  readonly process: ChildProcess;
  readonly pid: number;
  /** Every stdout line so far. */
  readonly stdout: string[];
  /** Every stderr line so far. */
  readonly stderr: string[];
  /** Resolves once the child has exited and its output streams are closed. */
  readonly exited: Promise<ChildExit>;
  /** The exit, once it happened. */
  readonly exit: ChildExit | undefined;
  /** stdout lines that parse as JSON objects (pino log lines). */
  logs(): ChildLogLine[];
  /** Waits for a stdout log line matching `predicate`; fails early if the child exits. */
  waitForLog(predicate: (line: ChildLogLine) => boolean, timeoutMs?: number, what?: string): Promise<ChildLogLine>;
  /** Waits for "email worker started". */
  waitForReady(timeoutMs?: number): Promise<void>;
  /** Sends a signal (if still running) without waiting. */
  signal(signal: NodeJS.Signals): void;
  /** Sends a signal to the child's whole process group (needs `command`). */
  signalGroup(signal: NodeJS.Signals): void;
  /** Waits for the exit; fails after `timeoutMs` (the child is left running: call `kill`). */
  waitForExit(timeoutMs?: number): Promise<ChildExit>;
  /** Sends `signal` (default SIGKILL) if still running and waits for the exit. Never throws. */
  kill(signal?: NodeJS.Signals, timeoutMs?: number): Promise<ChildExit | undefined>;
  /** stdout and stderr, for assertion messages. */
  describe(): string;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last resort if a test process dies without its after() hooks: no orphan workers.
  process.on("exit", () => {
    for (const child of live) {
      try {
        if (child.spawnargs[0] !== process.execPath && child.pid) process.kill(-child.pid, "SIGKILL");
        else child.kill("SIGKILL");
      } catch {
        // already gone
      }
    }
  });
}

let counter = 0;

export function spawnChildWorker(options: SpawnChildWorkerOptions): ChildWorker {
  installExitHook();
  const name = options.name ?? `worker-${++counter}`;
  const script = options.script ?? EMAIL_WORKER_SCRIPT;
  // From another directory, tsx and the script are named absolutely (`--import tsx` resolves from cwd).
  const absolute = fileURLToPath(new URL(script, `file://${PROJECT_ROOT}`));
  const nodeArgs = options.node ? [absolute] : options.cwd ? ["--import", import.meta.resolve("tsx"), absolute] : ["--import", "tsx", script];
  const [file, ...args] = options.command ?? [process.execPath, ...nodeArgs];
  const child = spawn(file!, args, {
    cwd: options.cwd ?? PROJECT_ROOT,
    env: options.env,
    stdio: ["ignore", "pipe", "pipe"],
    detached: Boolean(options.command),
  });
  if (child.pid === undefined) throw new Error(`could not spawn ${name} (${script})`);
  live.add(child);
  const pid = child.pid;

  const stdout: string[] = [];
  const stderr: string[] = [];
  const parsed: ChildLogLine[] = [];
  let exit: ChildExit | undefined;
  const exited = new Promise<ChildExit>((resolve) => {
    // "close" comes after the stdio streams ended, so every line has been collected by then.
    child.once("close", (code, signal) => {
      live.delete(child);
      exit = { code, signal };
      resolve(exit);
    });
    child.once("error", () => {
      live.delete(child);
      exit = { code: null, signal: null };
      resolve(exit);
    });
  });
  createInterface({ input: child.stdout! }).on("line", (line) => {
    stdout.push(line);
    if (!line.startsWith("{")) return;
    try {
      const value: unknown = JSON.parse(line);
      if (value && typeof value === "object" && !Array.isArray(value)) parsed.push(value as ChildLogLine);
    } catch {
      // not a log line
    }
  });
  createInterface({ input: child.stderr! }).on("line", (line) => stderr.push(line));

  const describe = () => `${name} (pid ${pid}, ${exit ? `exited ${JSON.stringify(exit)}` : "running"})\n--- stdout\n${stdout.join("\n")}\n--- stderr\n${stderr.join("\n")}`;

  const waitForLog: ChildWorker["waitForLog"] = async (predicate, timeoutMs = 30_000, what = "a log line") => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = parsed.find(predicate);
      if (found) return found;
      if (exit) throw new Error(`${name} exited before logging ${what}\n${describe()}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${name} to log ${what}\n${describe()}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  };

  const waitForExit = async (timeoutMs = 30_000): Promise<ChildExit> => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${name} to exit\n${describe()}`)), timeoutMs);
    });
    try {
      return await Promise.race([exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  };

  return {
    name,
    process: child,
    pid,
    stdout,
    stderr,
    exited,
    get exit() {
      return exit;
    },
    logs: () => [...parsed],
    waitForLog,
    async waitForReady(timeoutMs = 30_000) {
      await waitForLog((l) => l.msg === READY_MESSAGE, timeoutMs, `"${READY_MESSAGE}"`);
    },
    signal(signal) {
      if (!exit) child.kill(signal);
    },
    signalGroup(signal) {
      if (!options.command) throw new Error("signalGroup needs a child started with `command` (its own process group)");
      if (!exit) process.kill(-pid, signal);
    },
    waitForExit,
    async kill(signal = "SIGKILL", timeoutMs = 10_000) {
      // A command's chain (npm → tsx → node) dies together, or node would be left behind.
      const send = (sig: NodeJS.Signals) => {
        try {
          if (options.command) process.kill(-pid, sig);
          else child.kill(sig);
        } catch {
          // already gone
        }
      };
      if (!exit) send(signal);
      else if (options.command) send("SIGKILL");
      try {
        return await waitForExit(timeoutMs);
      } catch {
        if (signal !== "SIGKILL") {
          send("SIGKILL");
          return waitForExit(timeoutMs).catch(() => undefined);
        }
        return undefined;
      }
    },
    describe,
  };
}

/** Spawns a child worker and waits until it is ready; kills it if it does not get there. */
export async function startChildWorker(options: SpawnChildWorkerOptions, readyTimeoutMs = 30_000): Promise<ChildWorker> {
  const worker = spawnChildWorker(options);
  try {
    await worker.waitForReady(readyTimeoutMs);
  } catch (err) {
    await worker.kill();
    throw err;
  }
  return worker;
}

/** The test CA in a PEM file, for a child's NODE_EXTRA_CA_CERTS; `remove()` deletes it. */
export interface CaFile {
  path: string;
  remove(): void;
}

export function writeTestCaFile(): CaFile {
  const dir = mkdtempSync(join(tmpdir(), "notify-ca-"));
  const path = join(dir, "test-ca.pem");
  writeFileSync(path, testCerts().ca);
  return { path, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * The environment of a child worker: ours, the harness's `childEnv` (prefix, master key, …),
 * the test CA through NODE_EXTRA_CA_CERTS (the production mechanism), LOG_LEVEL info unless
 * `extra` says otherwise. Node's test-runner variables are removed so the child is a plain process.
 */
export function childWorkerEnv(childEnv: Record<string, string>, caFile: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...childEnv, NODE_EXTRA_CA_CERTS: caFile, LOG_LEVEL: "info", ...extra };
  delete env.NODE_TEST_CONTEXT;
  return env;
}
