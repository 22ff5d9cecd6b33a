// The clock of a throughput phase: from the first send to the moment the sink has counted the
// last message, with CPU per process and the bench Redis's command counts around it.
import type { ChildProcess } from "node:child_process";
import { round } from "./config.ts";
import { cpuMsPerEmail, cpuPercent, redisMsPerEmail, sample, type CpuPercent } from "./cpu.ts";
import { commandCalls, readsProcessed } from "./redis-server.ts";
import type { Context } from "./deployment.ts";

export interface Throughput {
  emails: number;
  seconds: number;
  emailsPerSec: number;
  cpuPercent: CpuPercent;
  /** CPU time the sending process(es) spent per email (steadier than wall time on a busy machine). */
  senderCpuMsPerEmail: number | null;
  redisCpuMsPerEmail: number | null;
  /** Commands Redis executed per email, by command (script-internal calls included). */
  redisCommandsPerEmail: Record<string, number>;
  /** Read events on Redis's client sockets per email: requests (or pipelines) that arrived. */
  redisReadsPerEmail: number;
}

/**
 * Runs `start` (which begins sending `emails` messages, and may or may not wait for them) and
 * resolves once the sink has counted them all. `workers` empty: the bench itself is the sender.
 */
export async function measure(ctx: Context, workers: ChildProcess[], emails: number, start: () => Promise<unknown>): Promise<Throughput> {
  const { sink, redis, abort } = ctx;
  const base = sink.count;
  const [callsBefore, readsBefore] = await Promise.all([commandCalls(redis.client), readsProcessed(redis.client)]);
  const before = await sample(sink, redis.client, workers);
  const started = performance.now();
  const [, finished] = await Promise.all([start(), sink.waitFor(base + emails, abort.signal)]);
  const after = await sample(sink, redis.client, workers);
  const [callsAfter, readsAfter] = await Promise.all([commandCalls(redis.client), readsProcessed(redis.client)]);
  const seconds = (finished - started) / 1000;
  const perEmail: Record<string, number> = {};
  for (const [name, calls] of callsAfter) {
    const delta = calls - (callsBefore.get(name) ?? 0);
    // The bench's own INFO calls are not the product's.
    if (delta > 0 && name !== "info") perEmail[name] = round(delta / emails, 3);
  }
  return {
    emails,
    seconds,
    emailsPerSec: emails / seconds,
    cpuPercent: cpuPercent(before, after),
    senderCpuMsPerEmail: cpuMsPerEmail(before, after, workers.length > 0 ? "worker" : "self", emails),
    redisCpuMsPerEmail: redisMsPerEmail(before, after, emails),
    redisCommandsPerEmail: perEmail,
    // Minus the bench's own INFO requests (4 around the phase).
    redisReadsPerEmail: round(Math.max(0, readsAfter - readsBefore - 4) / emails, 3),
  };
}

export const totalCommands = (t: Throughput): number => round(Object.values(t.redisCommandsPerEmail).reduce((a, b) => a + b, 0), 3);
