// Who is busy during a phase: CPU time of the bench, the sink, the workers, Redis and the whole
// machine (Linux /proc; null elsewhere), and a worker's memory.
import { execFileSync, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import type { Redis } from "ioredis";
import type { Sink } from "./children.ts";
import { round } from "./config.ts";
import { redisCpuSeconds } from "./redis-server.ts";

const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** User + system CPU seconds a process has used so far. */
export function procCpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // Fields 14 and 15 of stat (utime, stime); fields[0] is field 3.
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return null;
  }
}

/** A field of /proc/<pid>/status in MB: VmHWM (peak resident set) or VmRSS (now). */
export function procMemoryMb(pid: number, field: "VmHWM" | "VmRSS"): number | null {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match ? Number(match[1]) / 1024 : null;
  } catch {
    return null;
  }
}

/**
 * CPU seconds of the whole machine so far (all cores): `busy` every process (user, nice,
 * system, irq, softirq), `stolen` what the hypervisor ran elsewhere while this virtual machine
 * wanted the CPU ("steal": no process here used it, yet none of ours could run).
 */
export function systemCpuSeconds(): { busy: number; stolen: number } | null {
  try {
    const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0] ?? "";
    // cpu user nice system idle iowait irq softirq steal guest guest_nice
    const [, user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = line.trim().split(/\s+/).map(Number);
    return { busy: (user + nice + system + irq + softirq) / CLOCK_TICKS, stolen: steal / CLOCK_TICKS };
  } catch {
    return null;
  }
}

/**
 * Starts measuring steal: the returned function says what share of one core (percent) the
 * hypervisor took since, or null off Linux.
 */
export function stealMeter(): () => number | null {
  const before = systemCpuSeconds();
  const started = performance.now();
  return () => {
    const after = systemCpuSeconds();
    const seconds = (performance.now() - started) / 1000;
    return before && after && seconds > 0 ? Math.round(((after.stolen - before.stolen) / seconds) * 100) : null;
  };
}

/** CPU seconds of the interesting processes, to see who is busy during a phase. */
export interface CpuSample {
  at: number;
  self: number;
  sink: number;
  /** All the phase's workers together. */
  worker: number | null;
  redis: number | null;
  /** The whole machine: lets us see how much CPU other processes took during a phase. */
  system: number | null;
  /** CPU the hypervisor took from this machine (steal), all cores. */
  stolen: number | null;
}

export async function sample(sink: Sink, redis: Redis, workers: ChildProcess[]): Promise<CpuSample> {
  const [sinkStats, redisCpu] = await Promise.all([sink.stats(), redisCpuSeconds(redis).catch(() => null)]);
  const self = process.cpuUsage();
  const perWorker = workers.map((w) => (w.pid ? procCpuSeconds(w.pid) : null));
  const machine = systemCpuSeconds();
  return {
    at: performance.now(),
    self: (self.user + self.system) / 1e6,
    sink: sinkStats.cpuMicros / 1e6,
    worker: workers.length === 0 || perWorker.includes(null) ? null : perWorker.reduce<number>((a, b) => a + (b ?? 0), 0),
    redis: redisCpu,
    system: machine?.busy ?? null,
    stolen: machine?.stolen ?? null,
  };
}

export type CpuPercent = ReturnType<typeof cpuPercent>;

/**
 * Share of one core each process used between two samples, in percent; `other` is what the
 * rest of the machine used meanwhile (other programs competing for the same cores), `stolen`
 * what the hypervisor took (no program here had it).
 */
export function cpuPercent(a: CpuSample, b: CpuSample) {
  const wall = (b.at - a.at) / 1000;
  const delta = (x: number | null, y: number | null) => (x === null || y === null ? null : y - x);
  const pct = (d: number | null) => (d === null ? null : round((d / wall) * 100, 0));
  const ours = [delta(a.self, b.self), delta(a.sink, b.sink), delta(a.worker, b.worker), delta(a.redis, b.redis)];
  const system = delta(a.system, b.system);
  const other = system === null ? null : Math.max(0, system - ours.reduce<number>((sum, d) => sum + (d ?? 0), 0));
  return { bench: pct(ours[0]!), sink: pct(ours[1]!), worker: pct(ours[2]!), redis: pct(ours[3]!), other: pct(other), stolen: pct(delta(a.stolen, b.stolen)) };
}

/** CPU milliseconds per email of the process(es) that talk SMTP (the bench itself, or the workers). */
export function cpuMsPerEmail(a: CpuSample, b: CpuSample, sender: "self" | "worker", emails: number): number | null {
  const x = a[sender];
  const y = b[sender];
  return x === null || y === null ? null : round(((y - x) * 1000) / emails, 3);
}

/** Redis CPU milliseconds per email between two samples. */
export function redisMsPerEmail(a: CpuSample, b: CpuSample, emails: number): number | null {
  return a.redis === null || b.redis === null ? null : round(((b.redis - a.redis) * 1000) / emails, 3);
}
