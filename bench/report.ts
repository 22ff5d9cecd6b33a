// The printed table and bench/results.json.
import { writeFileSync } from "node:fs";
import { availableParallelism, cpus, totalmem } from "node:os";
import { CEILING_INFLIGHT, CONCURRENCY, POOL, QUICK, RESULTS_FILE, SIZES, round } from "./config.ts";
import type { RoundResult } from "./round.ts";
import type { LatencyResult } from "./phases/latency.ts";
import type { BacklogResult } from "./phases/backlog.ts";
import type { RedisCostResult } from "./phases/redis-cost.ts";
import { ENQUEUE_INFLIGHT } from "./phases/backlog.ts";
import { nest, spread, type Figures, type Spread } from "./stats.ts";
import { judge } from "./targets.ts";
import { wanted } from "./round.ts";

export interface Report {
  rounds: RoundResult[];
  /** Absent when BENCH_ONLY left the phase out. */
  latency?: LatencyResult;
  backlog?: BacklogResult;
  redisCost?: RedisCostResult;
  loadAtStart: number[];
  loadAtEnd: number[];
  seconds: number;
  /** Share of one core the hypervisor took over the whole run (steal); null off Linux. */
  stolenPercent: number | null;
}

const PHASE_LABELS: [string, string][] = [
  ["ceiling.plain", "ceiling, plain (nodemailer composes)"],
  ["transportCeiling.plain", "transport ceiling, plain (pre-composed)"],
  ["product.plain", "product, plain, 1 worker"],
  ["product.limits", "product, plain, 1 worker, limits on"],
  ["ceiling.tls", "ceiling, STARTTLS"],
  ["transportCeiling.tls", "transport ceiling, STARTTLS"],
  ["product.tls", "product, STARTTLS, 1 worker"],
  ["product.tls2Workers", "product, STARTTLS, 2 workers"],
  ["product.tlsConfigs", `product, STARTTLS, password, ${SIZES.configs} configs`],
  ["product.oauthConfigs", `product, STARTTLS, OAuth, ${SIZES.configs} configs`],
  ["naive.tls", "naive peer, STARTTLS, XOAUTH2"],
];

function fmt(s: Spread | undefined, digits = 0, unit = ""): string {
  if (!s) return "n/a";
  const f = (v: number) => v.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
  return s.n > 1 ? `${f(s.median)}${unit} [${f(s.min)}–${f(s.max)}]` : `${f(s.median)}${unit}`;
}

function onceFigures({ latency, backlog, redisCost }: Report): Figures {
  return {
    ...(latency && {
      "latency.paced500.p50Ms": latency.paced.p50Ms,
      "latency.paced500.p99Ms": latency.paced.p99Ms,
      "latency.paced500.maxMs": latency.paced.maxMs,
      "latency.paced500.achievedRate": latency.paced.achievedRate,
      "latency.incidentBehindBlastMs": latency.incident.behindBlastMs,
    }),
    ...(backlog && {
      "backlog.enqueuePerSecond": backlog.enqueuePerSecond,
      "backlog.redisBytesPerJob": backlog.redisBytesPerJob,
      "backlog.redisBytesPerCompletedJob": backlog.redisBytesPerCompletedJob,
      "backlog.drainPerSecond": backlog.drainPerSecond,
      "backlog.workerPeakRssMb": backlog.workerPeakRssMb,
      "backlog.workerDrainRssMaxMb": backlog.workerDrainRssMaxMb,
    }),
    ...(redisCost && {
      "redis.clientRequestsPerEmail": redisCost.clientRequestsPerEmail,
      "redis.scriptCommandsPerEmail": redisCost.scriptCommandsPerEmail,
    }),
  };
}

export function report(r: Report): void {
  const figures = spread([...r.rounds.map((x) => x.figures), onceFigures(r)]);
  // The once-per-bench phases run after the rounds: keep them out of the per-round spread.
  const g = (key: string) => figures.get(key);
  const rows: [string, string][] = [];
  const section = (title: string) => rows.push([`\n${title}`, ""]);
  const cpuModel = cpus()[0]?.model.trim() ?? "unknown";
  const load = (l: number[]) => l.map((v) => v.toFixed(2)).join(" ");

  section(`throughput: emails/s, median [min–max] over ${r.rounds.length} run(s) of ${SIZES.count} emails; sender CPU ms per email`);
  for (const [key, label] of PHASE_LABELS) {
    if (!g(`throughput.${key}.emailsPerSec`)) continue;
    let value = `${fmt(g(`throughput.${key}.emailsPerSec`))}   cpu ${fmt(g(`throughput.${key}.senderCpuMsPerEmail`), 3, " ms")}`;
    if (key === "naive.tls") value += `   (${SIZES.naive} emails; smtp-server waits 100 ms before every greeting)`;
    rows.push([label, value]);
  }
  if (r.rounds.length > 0 && !r.rounds[0]?.limitsAvailable && wanted("product.limits")) rows.push(["product, limits on", "limits: not available"]);

  section("ratios (within each run)");
  rows.push(["product / transport ceiling, plain", fmt(g("ratios.productVsTransportCeiling"), 3)]);
  rows.push(["product / transport ceiling, STARTTLS", fmt(g("ratios.productVsTransportCeilingTls"), 3)]);
  rows.push(["product / ceiling, plain (old target 0.8)", fmt(g("ratios.productVsCeiling"), 3)]);
  rows.push(["worker CPU / transport CPU per email", fmt(g("ratios.workerCpuVsTransportCpu"), 3)]);
  rows.push(["2 workers / 1 worker, STARTTLS", `${fmt(g("ratios.twoWorkersVsOne"), 3)}  (this machine at 1 worker's CPU per email: ${fmt(g("ratios.twoWorkersMachineEstimate"), 3)} = ${availableParallelism()} cores / ${fmt(g("cores.usedByOneWorkerPhase"), 2)} busy with 1 worker; worker CPU per email ${fmt(g("ratios.twoWorkersCpuVsOne"), 3)} × with 2)`]);
  rows.push(["product OAuth / naive peer, STARTTLS", fmt(g("ratios.productVsNaive"), 2)]);
  rows.push([`OAuth / password, ${SIZES.configs} configs`, `${fmt(g("ratios.oauthVsPassword"), 3)}  (worker CPU per email ${fmt(g("ratios.oauthCpuVsPassword"), 3)})`]);
  rows.push(["limits on / off", g("ratios.limitsOnVsOff") ? `${fmt(g("ratios.limitsOnVsOff"), 3)}  (worker CPU per email ${fmt(g("ratios.limitsCpuOnVsOff"), 3)})` : "limits: not available"]);
  rows.push(["token requests / configs", `${fmt(g("tokens.requests"))} / ${SIZES.configs}  (phase lasted ${fmt(g("tokens.phaseSeconds"), 1, " s")}; a 60 s token is refreshed after 22.5 s)`]);

  if (r.latency) {
    section("latency (1 worker, STARTTLS)");
    const p = r.latency.paced;
    rows.push([`enqueue → 250, paced ${SIZES.pacedRate}/s for ${SIZES.pacedSeconds} s`, `p50 ${p.p50Ms.toFixed(1)} ms, p99 ${p.p99Ms.toFixed(1)} ms, max ${p.maxMs.toFixed(1)} ms  (achieved ${Math.round(p.achievedRate)}/s, after ${SIZES.pacedWarmSeconds} s at the pace not measured${p.stolenPercent === null ? "" : `; the hypervisor took ${p.stolenPercent}% of a core meanwhile`})`]);
    const inc = r.latency.incident;
    rows.push([`incident behind a ${inc.blast.toLocaleString("en-US")}-email blast`, `${inc.behindBlastMs.toFixed(1)} ms  (${inc.blastWaitingAtEnqueue.toLocaleString("en-US")} blast jobs still waiting when it was enqueued)`]);
  }
  if (r.backlog) {
    const b = r.backlog;
    section(`backlog: ${b.jobs.toLocaleString("en-US")} jobs`);
    rows.push(["enqueue", `${Math.round(b.enqueuePerSecond).toLocaleString("en-US")} jobs/s  (requests of 1000 recipients, ${ENQUEUE_INFLIGHT} in flight)`]);
    rows.push(["Redis memory per job", `${Math.round(b.redisBytesPerJob)} B waiting, ${Math.round(b.redisBytesPerCompletedJob)} B once completed (kept 24 h)`]);
    rows.push(["drain, 1 worker, plain", `${Math.round(b.drainPerSecond)} emails/s`]);
    rows.push(["worker RSS", `peak ${b.workerPeakRssMb ?? "n/a"} MB (VmHWM, whole life), ${b.workerDrainRssMaxMb ?? "n/a"} MB max while draining`]);
  }
  section("Redis per delivered email (1 worker, plain)");
  rows.push(["round trips (read events)", `${fmt(g("redis.roundTripsPerEmail"), 2)}  (timed phase; a pipeline is one)`]);
  rows.push(["commands (commandstats)", `${fmt(g("redis.commandsPerEmail"), 2)}  (script-internal calls included)`]);
  if (r.redisCost) {
    rows.push(["client requests / inside scripts", `${r.redisCost.clientRequestsPerEmail} / ${r.redisCost.scriptCommandsPerEmail}  (MONITOR, ${r.redisCost.emails} emails)`]);
    rows.push(["requests by connection", Object.entries(r.redisCost.byConnection).map(([k, v]) => `${k} ${v}`).join(", ")]);
  }
  rows.push(["Redis CPU per email", fmt(g("redis.cpuMsPerEmail"), 3, " ms")]);

  section("targets (medians)");
  const verdicts = judge(figures);
  for (const v of verdicts) {
    const expected = typeof v.target.value === "number" ? v.target.value : v.expected;
    const state = v.met === undefined ? "n/a   " : v.met ? "met   " : "MISSED";
    rows.push([`${state} ${v.target.label}`, v.actual === undefined ? "not measured" : `${round(v.actual, 3)}  (target ${v.target.op} ${expected})`]);
  }
  section("machine");
  rows.push(["cpu", `${cpuModel}, ${availableParallelism()} cores, ${(totalmem() / 2 ** 30).toFixed(1)} GiB`]);
  rows.push(["node", `${process.version}, ${process.platform}-${process.arch}`]);
  rows.push(["load average (1/5/15 min)", `${load(r.loadAtStart)} at start, ${load(r.loadAtEnd)} at end; bench took ${Math.round(r.seconds)} s`]);
  if (r.stolenPercent !== null) rows.push(["CPU stolen by the hypervisor", `${r.stolenPercent}% of a core over the run (steal: this virtual machine wanted it, another got it)`]);

  const width = Math.max(...rows.filter(([k]) => !k.startsWith("\n")).map(([k]) => k.length)) + 2;
  process.stdout.write(rows.map(([k, v]) => (k.startsWith("\n") ? k : `  ${k.padEnd(width)}${v}`)).join("\n") + "\n\n");
  const failed = r.rounds.reduce((n, x) => n + x.failedJobs, 0) + (r.latency?.failedJobs ?? 0) + (r.backlog?.failedJobs ?? 0);
  if (failed > 0) process.stdout.write(`warning: ${failed} jobs failed; see bench/worker.log\n`);
  const phaseMax = (field: "other" | "stolen") => Math.max(0, ...r.rounds.flatMap((x) => Object.values(x.phases).map((ph) => ph.cpuPercent[field] ?? 0)));
  const otherMax = phaseMax("other");
  const stolenMax = phaseMax("stolen");
  if (otherMax >= 20) process.stdout.write(`note: other programs used up to ${otherMax}% of a core during the phases; absolute figures are noisy, ratios and CPU per email less so\n`);
  if (stolenMax >= 10) process.stdout.write(`note: the hypervisor took up to ${stolenMax}% of a core during a phase; wall-clock figures (emails/s, latency) suffer most, CPU per email least\n`);

  const results = {
    date: new Date().toISOString(),
    mode: QUICK ? "quick" : "full",
    runs: r.rounds.length,
    sizes: SIZES,
    workerConcurrency: CONCURRENCY,
    ceilingInflight: CEILING_INFLIGHT,
    pool: POOL,
    machine: {
      cpuModel, cores: availableParallelism(), memoryGiB: round(totalmem() / 2 ** 30, 1), node: process.version, platform: `${process.platform}-${process.arch}`,
      loadAverageAtStart: r.loadAtStart.map((v) => round(v, 2)), loadAverageAtEnd: r.loadAtEnd.map((v) => round(v, 2)), benchSeconds: round(r.seconds, 1), stolenPercent: r.stolenPercent,
    },
    ...nest(new Map([...figures].map(([k, s]) => [k, { median: round(s.median, 3), min: round(s.min, 3), max: round(s.max, 3), n: s.n }]))),
    limitsAvailable: r.rounds[0]?.limitsAvailable ?? false,
    targets: verdicts.map((v) => ({ key: v.target.key, op: v.target.op, target: v.target.value, actual: v.actual ?? null, met: v.met ?? null })),
    details: {
      redisCommandsByNamePerEmail: r.rounds.at(-1)?.phases["product.plain"]?.redisCommandsPerEmail,
      redisRequestsByConnectionPerEmail: r.redisCost?.byConnection,
      redisInsideScriptsPerEmail: r.redisCost?.insideScripts,
      cpuPercentLastRound: Object.fromEntries(Object.entries(r.rounds.at(-1)?.phases ?? {}).map(([k, ph]) => [k, ph.cpuPercent])),
      latency: r.latency,
      backlog: r.backlog,
      failedJobs: failed,
    },
  };
  writeFileSync(RESULTS_FILE, JSON.stringify(results, null, 2) + "\n");
  process.stdout.write(`wrote ${RESULTS_FILE}\n`);
}
