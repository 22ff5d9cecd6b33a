// One round of the throughput phases, in an order that keeps each ratio's two sides close in
// time (a busy machine then moves both together). Returns flat figures (see stats.ts) and the
// details worth keeping from the round (CPU shares, Redis commands by name).
import { availableParallelism } from "node:os";
import { SIZES, round } from "./config.ts";
import type { Context } from "./deployment.ts";
import { totalCommands, type Throughput } from "./measure.ts";
import { runCeiling, runNaive, runTransportCeiling } from "./phases/transport.ts";
import { GENEROUS_LIMITS, runProduct, type ProductPhase, type ProductResult } from "./phases/product.ts";
import type { Figures } from "./stats.ts";

export interface RoundResult {
  figures: Figures;
  phases: Record<string, Throughput | ProductResult>;
  limitsAvailable: boolean;
  failedJobs: number;
}

const say = (text: string) => process.stdout.write(`bench:   ${text}…\n`);

function must(result: ProductResult | null, what: string): ProductResult {
  if (!result) throw new Error(`the ${what} config was refused by the PUT validation`);
  return result;
}

const ratio = (a: number | null | undefined, b: number | null | undefined) => (a && b ? round(a / b, 3) : null);

/** BENCH_ONLY: phases (or their prefixes, e.g. "product", "latency") to run; default all. */
const ONLY = process.env.BENCH_ONLY?.split(",").map((x) => x.trim()).filter(Boolean) ?? [];
export const wanted = (phase: string) => ONLY.length === 0 || ONLY.some((o) => phase === o || phase.startsWith(`${o}.`));
const ONCE = ["latency", "backlog", "redis-cost"];
/** Is any phase of a round wanted? */
export const wantsRounds = () => ONLY.length === 0 || ONLY.some((o) => !ONCE.includes(o));

/** Cores the phase kept busy: its worker(s), the sink, Redis and the bench itself. */
function coresUsed(phase: Throughput | undefined): number | null {
  const c = phase?.cpuPercent;
  if (!c || c.worker === null || c.sink === null || c.redis === null || c.bench === null) return null;
  return round((c.worker + c.sink + c.redis + c.bench) / 100, 2);
}

/**
 * What a second worker could add on this machine if every process kept the CPU per email of
 * the 1-worker phase: every core busy at that cost. 2 cores / 1.6 used by one worker: 1.25 ×
 * one worker. An estimate, not a bound: with two workers the sink and Redis serve more
 * connections per wake-up, and their cost per email can fall.
 */
function machineEstimate(one: Throughput | undefined): number | null {
  const used = coresUsed(one);
  return used ? round(availableParallelism() / used, 3) : null;
}

/** `index` (from 0): odd rounds run OAuth before password, so neither always runs on the machine the other warmed. */
export async function runRound(ctx: Context, index = 0): Promise<RoundResult> {
  const phases: RoundResult["phases"] = {};
  const run = async <T extends Throughput | ProductResult>(key: string, label: string, phase: () => Promise<T | null>): Promise<T | undefined> => {
    if (!wanted(key)) return undefined;
    say(label);
    const result = await phase();
    if (result) phases[key] = result;
    return result ?? undefined;
  };
  const product = (shape: ProductPhase["shape"], workers: number, configs = 1) => async () => must(await runProduct(ctx, { shape, workers, configs }), JSON.stringify(shape));

  const transportPlain = await run("transportCeiling.plain", "transport ceiling, plain (pre-composed by toMessage() → one pooled nodemailer transport → sink)", () => runTransportCeiling(ctx, false));
  const ceilingPlain = await run("ceiling.plain", "ceiling, plain (nodemailer's own composer → one pooled transport → sink)", () => runCeiling(ctx, false));
  const plain = await run("product.plain", "product, plain, 1 worker (producer → Redis → worker → sink)", product({ tls: false, auth: "password" }, 1));
  let limitsAvailable = false;
  const limits = await run("product.limits", `product, plain, 1 worker, limits ${JSON.stringify(GENEROUS_LIMITS)}`, async () => {
    const result = await runProduct(ctx, { shape: { tls: false, auth: "password", limits: GENEROUS_LIMITS }, workers: 1 });
    limitsAvailable = result !== null;
    if (!result) process.stdout.write("bench:   limits: not available (the config's limits field is refused: per-mailbox limits have not landed)\n");
    return result;
  });
  const transportTls = await run("transportCeiling.tls", "transport ceiling, STARTTLS", () => runTransportCeiling(ctx, true));
  const ceilingTls = await run("ceiling.tls", "ceiling, STARTTLS", () => runCeiling(ctx, true));
  const tls = await run("product.tls", "product, STARTTLS, 1 worker", product({ tls: true, auth: "password" }, 1));
  const tls2 = await run("product.tls2Workers", "product, STARTTLS, 2 workers", product({ tls: true, auth: "password" }, 2));
  const password = () => run("product.tlsConfigs", `product, STARTTLS, password, ${SIZES.configs} configs`, product({ tls: true, auth: "password" }, 1, SIZES.configs));
  const withOauth = () => run("product.oauthConfigs", `product, STARTTLS, OAuth (XOAUTH2), ${SIZES.configs} configs, tokens living 60 s`, product({ tls: true, auth: "oauth" }, 1, SIZES.configs));
  let tlsK: ProductResult | undefined;
  let oauth: ProductResult | undefined;
  if (index % 2 === 0) {
    tlsK = await password();
    oauth = await withOauth();
  } else {
    oauth = await withOauth();
    tlsK = await password();
  }
  const naive = await run("naive.tls", "naive peer: a new connection per email (connect, 100 ms greeting delay, EHLO, STARTTLS, XOAUTH2)", () => runNaive(ctx));

  const figures: Figures = {};
  for (const [name, phase] of Object.entries(phases)) {
    figures[`throughput.${name}.emailsPerSec`] = round(phase.emailsPerSec, 1);
    figures[`throughput.${name}.senderCpuMsPerEmail`] = phase.senderCpuMsPerEmail;
  }
  Object.assign(figures, {
    "ratios.productVsTransportCeiling": ratio(plain?.emailsPerSec, transportPlain?.emailsPerSec),
    "ratios.productVsTransportCeilingTls": ratio(tls?.emailsPerSec, transportTls?.emailsPerSec),
    "ratios.productVsCeiling": ratio(plain?.emailsPerSec, ceilingPlain?.emailsPerSec),
    "ratios.productVsCeilingTls": ratio(tls?.emailsPerSec, ceilingTls?.emailsPerSec),
    "ratios.workerCpuVsTransportCpu": ratio(plain?.senderCpuMsPerEmail, transportPlain?.senderCpuMsPerEmail),
    "ratios.twoWorkersVsOne": ratio(tls2?.emailsPerSec, tls?.emailsPerSec),
    "ratios.twoWorkersCpuVsOne": ratio(tls2?.senderCpuMsPerEmail, tls?.senderCpuMsPerEmail),
    "ratios.twoWorkersMachineEstimate": machineEstimate(tls),
    "cores.usedByOneWorkerPhase": coresUsed(tls),
    "ratios.productVsNaive": ratio(oauth?.emailsPerSec, naive?.emailsPerSec),
    "ratios.oauthVsPassword": ratio(oauth?.emailsPerSec, tlsK?.emailsPerSec),
    "ratios.oauthCpuVsPassword": ratio(oauth?.senderCpuMsPerEmail, tlsK?.senderCpuMsPerEmail),
    "ratios.limitsOnVsOff": ratio(limits?.emailsPerSec, plain?.emailsPerSec),
    "ratios.limitsCpuOnVsOff": ratio(limits?.senderCpuMsPerEmail, plain?.senderCpuMsPerEmail),
    workerCpuMsPerEmail: plain?.senderCpuMsPerEmail ?? null,
    "tokens.requests": oauth?.tokenRequests ?? null,
    "tokens.configs": oauth ? SIZES.configs : null,
    "tokens.phaseSeconds": oauth ? round(oauth.spanSeconds, 1) : null,
    "redis.roundTripsPerEmail": plain?.redisReadsPerEmail ?? null,
    "redis.commandsPerEmail": plain ? totalCommands(plain) : null,
    "redis.cpuMsPerEmail": plain?.redisCpuMsPerEmail ?? null,
  });
  const products = [plain, limits, tls, tls2, tlsK, oauth].filter((p): p is ProductResult => p !== undefined);
  return { figures, phases, limitsAvailable, failedJobs: products.reduce((n, p) => n + p.failedJobs, 0) };
}
