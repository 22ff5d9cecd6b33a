// `npm run bench` (`-- --quick`: every phase smaller, under 90 s): the performance picture.
//
// Peers, all on loopback and all the bench's own: an SMTP sink process (bench/sink.ts: plain
// SMTP, and STARTTLS with a certificate of a CA made at start by bench/certs.ts; PLAIN/LOGIN
// and XOAUTH2; bodies discarded), an HTTPS token endpoint (bench/token-endpoint.ts: client
// credentials, opaque tokens, expires_in 60), a redis-server on a free port with no
// persistence (bench/redis-server.ts: its INFO counts our traffic only), and the product's
// worker processes as production runs them (the image's `node dist/workers/email-worker.js`,
// built first; NODE_ENV=production, LOG_LEVEL=info, NOTIFY_ALLOW_PRIVATE_TARGETS=true,
// NODE_EXTRA_CA_CERTS = the bench CA).
//
// Phases (bench/phases/):
//   1. transport.ts   ceiling and transport ceiling, plain and STARTTLS; the naive peer;
//   2. product.ts     1 and 2 workers, password and OAuth, limits on;
//   3. latency.ts     enqueue → 250 paced at 500/s; an incident behind a status-page blast;
//   4. backlog.ts     100,000 jobs: enqueue rate, Redis bytes per job, worker RSS draining;
//   5. redis-cost.ts  Redis requests per email by connection and command (MONITOR).
// The throughput phases run SIZES.runs times (bench/round.ts); every figure is reported as
// median/min/max, ratios taken within one run. Targets: bench/targets.ts. Output: a table and
// bench/results.json (bench/report.ts).
//
// Environment: BENCH_RUNS, BENCH_COUNT, BENCH_NAIVE_COUNT, BENCH_PACED_RATE,
// BENCH_PACED_SECONDS, BENCH_PACED_WARM_SECONDS, BENCH_BLAST, BENCH_BACKLOG, BENCH_REDIS_COST_COUNT, BENCH_CONFIGS (see
// bench/config.ts), BENCH_CONCURRENCY (the workers' WORKER_CONCURRENCY, default 20),
// BENCH_CEILING_INFLIGHT (sendMail calls in flight for the ceilings, default 50),
// BENCH_WORKER=source (workers from the TypeScript sources through tsx, as `npm run worker`),
// BENCH_WORKER_NODE_ARGS (extra node flags for the workers, e.g.
// "--cpu-prof --cpu-prof-dir=/tmp/prof" to profile them), BENCH_LATENCY_DUMP (a file for every
// paced email's enqueue time and latency), BENCH_ONLY (comma-separated phases
// or prefixes: product.plain, product, ceiling, naive, latency, backlog, redis-cost; default all).
import { loadavg } from "node:os";
import { makeCerts, type BenchCerts } from "./certs.ts";
import { startRedis, type BenchRedis } from "./redis-server.ts";
import { startTokenEndpoint, type TokenEndpoint } from "./token-endpoint.ts";
import { Sink, buildWorker, stopChild } from "./children.ts";
import { CONCURRENCY, QUICK, SIZES } from "./config.ts";
import type { Context, Deployment } from "./deployment.ts";
import { runRound, wanted, wantsRounds, type RoundResult } from "./round.ts";
import { runLatency } from "./phases/latency.ts";
import { runBacklog } from "./phases/backlog.ts";
import { runRedisCost } from "./phases/redis-cost.ts";
import { report } from "./report.ts";
import { stealMeter } from "./cpu.ts";

async function main(): Promise<void> {
  const began = performance.now();
  const abort = new AbortController();
  const onSignal = () => abort.abort(new Error("interrupted"));
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);

  let certs: BenchCerts | undefined;
  let redis: BenchRedis | undefined;
  let tokens: TokenEndpoint | undefined;
  let sink: Sink | undefined;
  const open = new Set<Deployment>();
  try {
    const loadAtStart = loadavg();
    const stolenSinceStart = stealMeter();
    process.stdout.write("bench: building dist/ (the workers run what the image runs)…\n");
    buildWorker();
    certs = makeCerts();
    redis = await startRedis((err) => abort.abort(err));
    const clients = new Map<string, string>();
    tokens = await startTokenEndpoint(certs, clients);
    sink = await Sink.start({ key: certs.key, cert: certs.cert, tokenKey: tokens.key }, abort);
    const ctx: Context = { sink, redis, certs, tokens, clients, abort, open };
    process.stdout.write(
      `bench${QUICK ? " --quick" : ""}: ${SIZES.runs} run(s) of ${SIZES.count} emails per throughput phase, worker concurrency ${CONCURRENCY}; ` +
        `sink 127.0.0.1:${sink.plainPort} (plain) / ${sink.tlsPort} (STARTTLS), redis-server 127.0.0.1:${redis.port}, token endpoint ${tokens.url}\n`,
    );

    const rounds: RoundResult[] = [];
    for (let i = 1; i <= SIZES.runs && wantsRounds(); i++) {
      process.stdout.write(`bench: run ${i} of ${SIZES.runs}\n`);
      rounds.push(await runRound(ctx, i - 1));
    }
    const once = async <T>(key: string, label: string, phase: () => Promise<T>): Promise<T | undefined> => {
      if (!wanted(key)) return undefined;
      process.stdout.write(`bench: ${label}…\n`);
      return phase();
    };
    const latency = await once("latency", `latency (paced ${SIZES.pacedRate}/s for ${SIZES.pacedSeconds} s; an incident behind a ${SIZES.blast}-email blast)`, () => runLatency(ctx));
    const backlog = await once("backlog", `backlog (${SIZES.backlog} jobs)`, () => runBacklog(ctx));
    const redisCost = await once("redis-cost", `Redis cost (${SIZES.redisCost} emails, MONITOR on)`, () => runRedisCost(ctx));
    if (tokens.refused > 0) process.stdout.write(`warning: the token endpoint refused ${tokens.refused} requests\n`);
    const sinkStats = await sink.stats();
    if (sinkStats.refusedLogins > 0) process.stdout.write(`warning: the sink refused ${sinkStats.refusedLogins} logins\n`);
    report({ rounds, latency, backlog, redisCost, loadAtStart, loadAtEnd: loadavg(), seconds: (performance.now() - began) / 1000, stolenPercent: stolenSinceStart() });
  } finally {
    for (const dep of [...open]) await dep.close().catch(() => {});
    if (sink) await stopChild(sink.child, 5_000);
    await tokens?.close().catch(() => {});
    await redis?.stop();
    certs?.remove();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
