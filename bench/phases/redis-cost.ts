// What Redis is asked per delivered email: the product over plain SMTP, 1 worker, with Redis
// MONITOR watching (counted, not timed: MONITOR slows Redis down). MONITOR tells a client's
// own request from a command a Lua script ran ("lua" source), so this splits
//   client requests   what the worker's connections send (a script call is one), by
//                     connection and command, BullMQ scripts by name;
//   script commands   what those scripts run inside Redis (no network);
// and INFO stats' total_reads_processed counts read events on client sockets: requests that
// arrive together (a pipeline, or commands written in the same tick) are one. That is the
// round-trip figure (`redis.roundTripsPerEmail`), measured in the timed plain phase.
import { createHash } from "node:crypto";
import { createRequire } from "node:module";
import { Redis } from "ioredis";
import { SIZES, recipients, round } from "../config.ts";
import { configBody, Deployment, type Context } from "../deployment.ts";
import { measure, totalCommands, type Throughput } from "../measure.ts";

export interface RedisCostResult {
  emails: number;
  /** Requests the product's connections sent, per email. */
  clientRequestsPerEmail: number;
  /** Commands run inside Lua scripts, per email. */
  scriptCommandsPerEmail: number;
  /** INFO commandstats: every command Redis executed (script-internal ones included), per email. */
  commandsPerEmail: number;
  readsPerEmail: number;
  /** "<connection name> <command or script>" → requests per email (≥ 0.01 only). */
  byConnection: Record<string, number>;
  /** Command → script-internal calls per email (≥ 0.01 only). */
  insideScripts: Record<string, number>;
  throughput: Throughput;
}

/** sha1 → BullMQ script name, from BullMQ's own script sources (ioredis evalsha's by their sha1). */
function bullmqScripts(): Map<string, string> {
  const scripts = createRequire(import.meta.url)("bullmq/dist/cjs/scripts/index.js") as Record<string, { name: string; content: string }>;
  return new Map(Object.values(scripts).map((s) => [createHash("sha1").update(s.content).digest("hex"), s.name]));
}

async function clientNames(redis: Redis): Promise<Map<string, string>> {
  const names = new Map<string, string>();
  for (const line of ((await redis.client("LIST")) as string).split("\n")) {
    const addr = /\baddr=(\S+)/.exec(line)?.[1];
    if (addr) names.set(addr, /\bname=(\S*)/.exec(line)?.[1] || "(unnamed)");
  }
  return names;
}

const perEmail = (counts: Map<string, number>, emails: number) =>
  Object.fromEntries([...counts].map(([k, n]) => [k, round(n / emails, 3)] as const).filter(([, v]) => v >= 0.01).sort((a, b) => b[1] - a[1]));

export async function runRedisCost(ctx: Context): Promise<RedisCostResult> {
  const dep = new Deployment(ctx);
  const monitorClient = new Redis(ctx.redis.url, { connectionName: "notify-bench-monitor", maxRetriesPerRequest: 1 });
  monitorClient.on("error", () => {});
  try {
    await dep.putConfig("cost", configBody(ctx, { tls: false, auth: "password" }, 0));
    const workers = dep.startWorkers(1).map((w) => w.child);
    const warmBase = ctx.sink.count;
    await dep.enqueue("cost", "incident", recipients("warm", SIZES.warmup), "warm");
    await ctx.sink.waitFor(warmBase + SIZES.warmup, ctx.abort.signal);
    await dep.producer.queue.pause();
    await dep.enqueue("cost", "incident", recipients("user", SIZES.redisCost), "main");

    const shas = bullmqScripts();
    const byConnection = new Map<string, number>();
    const insideScripts = new Map<string, number>();
    let clientRequests = 0;
    let scriptCommands = 0;
    let names = await clientNames(ctx.redis.client);
    const monitor = await monitorClient.monitor();
    let watching = false;
    monitor.on("monitor", (_time: string, args: string[], source: string) => {
      if (!watching) return;
      const command = (args[0] ?? "").toLowerCase();
      if (source === "lua") {
        scriptCommands++;
        insideScripts.set(command, (insideScripts.get(command) ?? 0) + 1);
        return;
      }
      let name = names.get(source);
      if (name === undefined) return; // a connection made after the listing: not the product's
      if (name.startsWith("notify-bench")) return;
      clientRequests++;
      const what = command === "evalsha" ? `evalsha ${shas.get(args[1] ?? "") ?? (args[1] ?? "").slice(0, 8)}` : command;
      name = name.startsWith("bull:") ? "bullmq" : name;
      byConnection.set(`${name} ${what}`, (byConnection.get(`${name} ${what}`) ?? 0) + 1);
    });
    names = await clientNames(ctx.redis.client);
    watching = true;
    const throughput = await measure(ctx, workers, SIZES.redisCost, () => dep.producer.queue.resume());
    watching = false;
    monitor.disconnect();
    await dep.stopWorkers();
    return {
      emails: SIZES.redisCost,
      clientRequestsPerEmail: round(clientRequests / SIZES.redisCost, 3),
      scriptCommandsPerEmail: round(scriptCommands / SIZES.redisCost, 3),
      commandsPerEmail: totalCommands(throughput),
      readsPerEmail: throughput.redisReadsPerEmail,
      byConnection: perEmail(byConnection, SIZES.redisCost),
      insideScripts: perEmail(insideScripts, SIZES.redisCost),
      throughput,
    };
  } finally {
    monitorClient.disconnect();
    await dep.close();
  }
}
