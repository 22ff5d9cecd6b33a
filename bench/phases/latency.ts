// Latency, one worker, password over STARTTLS; the sink notes when each 250 went out and the
// producer when each enqueue began (the machine's monotonic clock, the same in both processes).
//   paced      one email per enqueue at a steady SIZES.pacedRate per second for
//              SIZES.pacedWarmSeconds, not measured (a fresh worker's first seconds at a pace
//              are its slowest: of two 20 s runs back to back, the first had 593 emails over
//              40 ms, most in its first 1.5 s, the second 103), then SIZES.pacedSeconds, measured:
//              p50/p99/max of enqueue → 250, and the CPU the hypervisor took meanwhile;
//   incident   a status-page blast of SIZES.blast emails from one project is enqueued, then
//              one incident email of another project: its enqueue → 250 (incident mail has
//              the higher BullMQ priority, so it overtakes the blast's waiting jobs).
import { writeFileSync } from "node:fs";
import { SIZES, monotonicMs, recipients, round, sleep } from "../config.ts";
import { configBody, Deployment, type Context } from "../deployment.ts";
import { stealMeter } from "../cpu.ts";

export interface LatencyResult {
  paced: {
    emails: number;
    achievedRate: number;
    p50Ms: number;
    p99Ms: number;
    maxMs: number;
    /** Share of one core the hypervisor took (steal) while the measured emails went out; null off Linux. */
    stolenPercent: number | null;
  };
  incident: { behindBlastMs: number; blastWaitingAtEnqueue: number; blast: number };
  failedJobs: number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

export async function runLatency(ctx: Context): Promise<LatencyResult> {
  const dep = new Deployment(ctx);
  try {
    const shape = { tls: true, auth: "password" } as const;
    for (const [i, project] of ["paced", "statuspage", "incidents"].entries()) await dep.putConfig(project, configBody(ctx, shape, i));
    dep.startWorkers(1);
    const warmBase = ctx.sink.count;
    for (const project of ["paced", "statuspage", "incidents"]) await dep.enqueue(project, "incident", recipients(`warm-${project}-`, SIZES.warmup), "warm");
    await ctx.sink.waitFor(warmBase + SIZES.warmup * 3, ctx.abort.signal);

    const paced = await runPaced(ctx, dep);
    const incident = await runIncidentBehindBlast(ctx, dep);
    return { paced, incident, failedJobs: await dep.failedJobs() };
  } finally {
    await dep.close();
  }
}

async function runPaced(ctx: Context, dep: Deployment): Promise<LatencyResult["paced"]> {
  const warm = SIZES.pacedRate * SIZES.pacedWarmSeconds;
  const total = SIZES.pacedRate * SIZES.pacedSeconds;
  // One steady stream: the warm-up's emails first, then the measured ones (the sink notes "lat-" only).
  const to = [...recipients("paced-warm-", warm), ...recipients("lat-", total)];
  const enqueuedAt = new Map<string, number>();
  const base = ctx.sink.count;
  ctx.sink.record("lat-");
  const pending: Promise<void>[] = [];
  const started = performance.now();
  let measuredFrom = started;
  let stolenSince = stealMeter();
  let sent = 0;
  while (sent < to.length) {
    const due = Math.min(to.length, Math.floor(((performance.now() - started) / 1000) * SIZES.pacedRate) + 1);
    for (; sent < due; sent++) {
      if (sent === warm) {
        measuredFrom = performance.now();
        stolenSince = stealMeter();
      }
      const address = to[sent]!;
      enqueuedAt.set(address, monotonicMs());
      pending.push(dep.enqueue("paced", "incident", [address], "paced"));
    }
    await sleep(1);
  }
  await Promise.all(pending);
  const achievedRate = total / ((performance.now() - measuredFrom) / 1000);
  await ctx.sink.waitFor(base + to.length, ctx.abort.signal);
  const stolenPercent = stolenSince();
  ctx.sink.record(null);
  const times = await ctx.sink.times();
  const measured = to.slice(warm);
  const pairs = measured.map((a) => [enqueuedAt.get(a)!, (times.get(a) ?? NaN) - enqueuedAt.get(a)!] as const);
  // BENCH_LATENCY_DUMP=file: every measured email's [enqueued at (monotonic ms), latency ms], to see when the slow ones went.
  if (process.env.BENCH_LATENCY_DUMP) writeFileSync(process.env.BENCH_LATENCY_DUMP, JSON.stringify(pairs));
  const latencies = pairs.map(([, ms]) => ms).filter(Number.isFinite).sort((a, b) => a - b);
  if (latencies.length !== total) throw new Error(`paced latency: the sink noted ${latencies.length} of ${total} deliveries`);
  return {
    emails: total,
    achievedRate: round(achievedRate, 1),
    p50Ms: round(percentile(latencies, 50), 2),
    p99Ms: round(percentile(latencies, 99), 2),
    maxMs: round(latencies[latencies.length - 1]!, 2),
    stolenPercent,
  };
}

async function runIncidentBehindBlast(ctx: Context, dep: Deployment): Promise<LatencyResult["incident"]> {
  const base = ctx.sink.count;
  ctx.sink.record("incident-now");
  await dep.enqueue("statuspage", "status-page", recipients("blast", SIZES.blast), "blast");
  const counts = await dep.producer.queue.getJobCounts("waiting", "prioritized");
  const address = "incident-now@bench.test";
  const enqueuedAt = monotonicMs();
  await dep.enqueue("incidents", "incident", [address], "incident-behind-blast");
  await ctx.sink.waitFor(base + SIZES.blast + 1, ctx.abort.signal);
  ctx.sink.record(null);
  const at = (await ctx.sink.times()).get(address);
  if (at === undefined) throw new Error("the incident email behind the blast was not noted by the sink");
  return { behindBlastMs: round(at - enqueuedAt, 2), blastWaitingAtEnqueue: (counts.waiting ?? 0) + (counts.prioritized ?? 0), blast: SIZES.blast };
}
