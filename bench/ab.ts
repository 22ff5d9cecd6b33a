// Paired A/B of worker CPU per email, for hot-path work on a noisy machine:
//   npx tsx bench/ab.ts 'A_ENV=1' 'B_ENV=1' [rounds]
// Two deployments (each its own prefix, config and worker process; plain SMTP, or STARTTLS with
// BENCH_AB_TLS=1; password) are filled while paused and drained at the same moment, so both
// workers run under the same machine load; the two sides swap start order every round. Each
// side's worker gets the given NAME=value settings in its environment (an empty string:
// none). Prints CPU ms per email of each side per round and the median ratio B / A. Two builds: compile the commit
// before into .ab-old/ (`tsc -p tsconfig.build.json --outDir .ab-old/dist` on a stash) and
// give side A BENCH_WORKER_ENTRY=$PWD/.ab-old/dist/workers/email-worker.js.
import { loadavg } from "node:os";
import { makeCerts } from "./certs.ts";
import { startRedis } from "./redis-server.ts";
import { startTokenEndpoint } from "./token-endpoint.ts";
import { Sink, buildWorker, stopChild } from "./children.ts";
import { SIZES, recipients, round } from "./config.ts";
import { configBody, Deployment, type Context } from "./deployment.ts";
import { procCpuSeconds } from "./cpu.ts";
import { median } from "./stats.ts";

const [envA = "", envB = "", roundsArg = "5"] = process.argv.slice(2);
const parseEnv = (s: string) => Object.fromEntries(s.split(/\s+/).filter(Boolean).map((kv) => kv.split("=", 2) as [string, string]));

async function side(ctx: Context, env: Record<string, string>): Promise<{ dep: Deployment; pid: number }> {
  const dep = new Deployment(ctx);
  await dep.putConfig("ab", configBody(ctx, { tls: process.env.BENCH_AB_TLS === "1", auth: "password" }, 0));
  const saved = { ...process.env };
  Object.assign(process.env, env);
  const [worker] = dep.startWorkers(1);
  process.env = saved;
  const base = ctx.sink.count;
  await dep.enqueue("ab", "incident", recipients("warm", SIZES.warmup), "warm");
  await ctx.sink.waitFor(base + SIZES.warmup, ctx.abort.signal);
  await dep.producer.queue.pause();
  await dep.enqueue("ab", "incident", recipients("user", SIZES.count), "main");
  return { dep, pid: worker!.child.pid! };
}

const abort = new AbortController();
buildWorker();
const certs = makeCerts();
const redis = await startRedis((err) => abort.abort(err));
const tokens = await startTokenEndpoint(certs, new Map());
const sink = await Sink.start({ key: certs.key, cert: certs.cert, tokenKey: tokens.key }, abort);
const ctx: Context = { sink, redis, certs, tokens, clients: new Map(), abort, open: new Set() };
const ratios: number[] = [];
try {
  for (let r = 0; r < Number(roundsArg); r++) {
    const order = r % 2 === 0 ? ([["A", envA], ["B", envB]] as const) : ([["B", envB], ["A", envA]] as const);
    const sides = new Map<string, { dep: Deployment; pid: number }>();
    for (const [name, env] of order) sides.set(name, await side(ctx, parseEnv(env)));
    const before = new Map([...sides].map(([n, s]) => [n, procCpuSeconds(s.pid)!]));
    const base = sink.count;
    await Promise.all([...sides.values()].map((s) => s.dep.producer.queue.resume()));
    await sink.waitFor(base + 2 * SIZES.count, abort.signal);
    const ms = new Map([...sides].map(([n, s]) => [n, round(((procCpuSeconds(s.pid)! - before.get(n)!) * 1000) / SIZES.count, 3)]));
    ratios.push(ms.get("B")! / ms.get("A")!);
    process.stdout.write(`round ${r + 1}: A ${ms.get("A")} ms, B ${ms.get("B")} ms per email, B/A ${round(ratios.at(-1)!, 3)}  (load ${loadavg()[0]!.toFixed(2)})\n`);
    for (const s of sides.values()) await s.dep.close();
  }
  process.stdout.write(`median B/A ${round(median(ratios), 3)} over ${ratios.length} rounds; A: ${envA || "(nothing)"}; B: ${envB || "(nothing)"}\n`);
} finally {
  for (const dep of ctx.open) await dep.close();
  await stopChild(sink.child, 5000);
  await tokens.close();
  await redis.stop();
  certs.remove();
}
process.exit(0);
