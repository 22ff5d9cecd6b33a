// One failover, end to end, against a highly available deployment (Cluster or Sentinel):
// two worker processes and the API process (the production entry points), an application
// that POSTs 500 emails and retries a 503 with the same idempotencyKey as the README says,
// and, mid-batch, kill -9 of the master that holds our data. Measured and returned:
// - how long the promotion took, and how long the API answered 503 (every answer's latency);
// - acknowledged (202) emails that were never delivered (lost) and emails sent twice;
// - that a config PUT after the failover reaches every worker within a second.
import { randomBytes } from "node:crypto";
import { createHarness, eventually, putConfig, type Harness } from "../helpers/harness.ts";
import { isConnectionError } from "../../src/redis/health.ts";
import { startCountingSink, sinkConfig, type CountingSink } from "../helpers/counting-sink.ts";
import { childWorkerEnv, spawnChildWorker, startChildWorker, writeTestCaFile, type ChildWorker } from "../helpers/child-worker.ts";
import { freePort } from "../helpers/smtp-server.ts";
import type { RedisProcess } from "../helpers/redis-process.ts";
import { createEmailProducer } from "../../src/index.ts";

export interface Deployment {
  url: string;
  /** The data node holding `prefix`'s keys now. */
  master(prefix: string): Promise<RedisProcess>;
  /** The replicas of `master`. */
  replicasOf(master: RedisProcess): Promise<RedisProcess[]>;
  /** Cuts `replica` off its master (it keeps failing to reconnect) until `rejoin`. */
  cutOff(replica: RedisProcess): Promise<void>;
  rejoin(replica: RedisProcess): Promise<void>;
  /** A planned failover (CLUSTER FAILOVER, SENTINEL FAILOVER): the master stays up, demoted. */
  manualFailover(master: RedisProcess): Promise<void>;
  /** The servers' last log lines, for a failure message. */
  describe(): string;
  waitForPromotion(prefix: string, previous: RedisProcess): Promise<RedisProcess>;
  waitForReplica(node: RedisProcess): Promise<void>;
}

export interface ScenarioOptions {
  name: string;
  deployment: Deployment;
  waitReplicas: number;
  /** Default 50 requests × 10 recipients. */
  requests?: number;
  perRequest?: number;
  /**
   * The replicas are cut off their master this long before it is killed: the writes it
   * acknowledged meanwhile exist nowhere else (a link that dropped, a partition, a replica
   * far behind). 0: a plain kill -9 of a master whose replica keeps up.
   */
  lagMs?: number;
  /** A planned failover instead of kill -9 (maintenance, upgrades). */
  manual?: boolean;
}

export interface ScenarioResult {
  prefix: string;
  acknowledged: number;
  delivered: number;
  lost: string[];
  duplicates: string[];
  /** kill -9 → the replica answers as master (as the servers see it). */
  promotionMs: number;
  /** kill -9 → the end of the last 503 after it (0: none). */
  lastUnavailableAfterKillMs: number;
  /** kill -9 → the old master is back as a synced replica (restarted after the promotion). */
  replicaBackMs: number;
  answers: { status: number; ms: number }[];
  /** Answers other than 202 and 503 (must be none). */
  unexpected: { status: number; body: string }[];
  /** PUT of a new config → every email enqueued one second later went the new way. */
  configSwitched: boolean;
  /** Worker/API lines on stderr, or non-JSON stdout (must be none). */
  noise: string[];
  /** Worker/API log lines at level error or above (must be none). */
  errors: string[];
  harness: Harness;
  children: ChildWorker[];
  stop(): Promise<void>;
}

const INCIDENT = { incidentId: "ha", title: "Failover drill", state: "created", severity: "critical" };

export async function runFailoverScenario(options: ScenarioOptions): Promise<ScenarioResult> {
  const { deployment } = options;
  const requests = options.requests ?? 50;
  const perRequest = options.perRequest ?? 10;
  const projects = 5;
  const env = { REDIS_URL: deployment.url, REDIS_WAIT_REPLICAS: String(options.waitReplicas) };
  const h = await createHarness(options.name, { worker: false, env });
  const sink = await startCountingSink({ delayMs: 20 });
  const sinkB = await startCountingSink();
  const ca = writeTestCaFile();
  const children: ChildWorker[] = [];
  let stopped = false;
  const stop = async () => {
    stopped = true;
    await Promise.all(children.map((c) => c.kill("SIGKILL")));
    await h.close().catch(() => undefined);
    await Promise.all([sink.close(), sinkB.close()]);
    ca.remove();
  };
  try {
    for (let p = 0; p < projects; p++) await putConfig(h, `ha${p}`, sinkConfig(sink.port, p));
    const childEnv = childWorkerEnv(h.childEnv, ca.path, { WORKER_CONCURRENCY: "10" });
    const apiPort = await freePort();
    const workers = await Promise.all(["a", "b"].map((w) => startChildWorker({ name: `${options.name}-worker-${w}`, env: childEnv }, 60_000)));
    children.push(...workers);
    const api = spawnChildWorker({ name: `${options.name}-api`, script: "workers/api.ts", env: { ...childEnv, PORT: String(apiPort) } });
    children.push(api);
    await api.waitForLog((l) => l.msg === "API listening", 60_000, "API listening");
    const base = `http://127.0.0.1:${apiPort}`;
    const headers = { authorization: `Bearer ${h.childEnv.NOTIFY_ADMIN_TOKEN}`, "content-type": "application/json" };

    const answers: { status: number; ms: number; at: number }[] = [];
    const unexpected: { status: number; body: string }[] = [];
    const acknowledged = new Map<string, string>(); // recipient → job id
    const run = randomBytes(3).toString("hex");

    /** An application's POST: a 503 is retried with the same idempotencyKey until it is 202. */
    const post = async (i: number) => {
      const to = Array.from({ length: perRequest }, (_, k) => `r${i}-${k}@ha.test`);
      const body = JSON.stringify({ type: "incident", projectId: `ha${i % projects}`, to, idempotencyKey: `${run}-${i}`, data: INCIDENT });
      for (const deadline = Date.now() + 90_000; Date.now() < deadline && !stopped; ) {
        const started = Date.now();
        let status = 0;
        let text = "";
        try {
          const res = await fetch(`${base}/v1/emails`, { method: "POST", headers, body, signal: AbortSignal.timeout(15_000) });
          status = res.status;
          text = await res.text();
        } catch (err) {
          text = (err as Error).message;
        }
        answers.push({ status, ms: Date.now() - started, at: Date.now() });
        if (status === 202) {
          for (const job of (JSON.parse(text) as { jobs: { id: string; to: string }[] }).jobs) acknowledged.set(job.to, job.id);
          return;
        }
        if (status !== 503) unexpected.push({ status, body: text.slice(0, 300) });
        await new Promise((r) => setTimeout(r, 250));
      }
    };

    let next = 0;
    const client = Promise.all(
      Array.from({ length: 3 }, async () => {
        while (next < requests && !stopped) {
          const i = next++;
          await post(i);
          await new Promise((r) => setTimeout(r, 60));
        }
      }),
    );

    // Mid-batch: some mail acknowledged, some delivered, the rest still coming.
    await eventually(() => (acknowledged.size >= (requests * perRequest) / 3 && sink.delivered >= 50 ? true : undefined), 60_000, "a third of the batch acknowledged");
    const victim = await deployment.master(h.settings.prefix);
    const lagMs = options.lagMs ?? 0;
    const replicas = lagMs > 0 ? await deployment.replicasOf(victim) : [];
    if (lagMs > 0 && replicas.length === 0) throw new Error("the master has no replica to cut off");
    for (const replica of replicas) await deployment.cutOff(replica);
    if (lagMs > 0) await new Promise((r) => setTimeout(r, lagMs));
    const killedAt = Date.now();
    if (options.manual) await deployment.manualFailover(victim);
    else await victim.kill9();
    const promoted = await deployment.waitForPromotion(h.settings.prefix, victim);
    const promotionMs = Date.now() - killedAt;
    for (const replica of replicas) await deployment.rejoin(replica);
    // What an operator (or systemd) does: start it again; it rejoins as a replica.
    if (!options.manual) await victim.restart();
    await deployment.waitForReplica(victim);
    const replicaBackMs = Date.now() - killedAt;
    void promoted;
    // Bounded: a deployment that never recovers fails the test with its logs, not by timeout.
    await Promise.race([
      client,
      new Promise((_, reject) => setTimeout(() => reject(new Error(`the application's 500 emails were not all acknowledged within 120 s of the failover (${acknowledged.size} were; answers: ${JSON.stringify(countStatuses(answers))})`)), 120_000).unref()),
    ]);
    const lastUnavailable = answers.filter((a) => a.at > killedAt && a.status === 503).pop();

    // Every acknowledged job either completes or is gone from Redis (lost in the failover).
    const queue = h.services.producer.queue;
    let lastStates: Record<string, number> = {};
    const states = await eventually(async () => {
      // The test's own connection may be between masters too: a failed look is looked at again.
      const all = await Promise.all([...acknowledged.values()].map(async (id) => [id, await queue.getJobState(id)] as const)).catch((err: unknown) => {
        if (isConnectionError(err)) return undefined;
        throw err;
      });
      if (!all) return undefined;
      lastStates = countStatuses(all.map(([, state]) => ({ status: state })));
      return all.every(([, s]) => s === "completed" || s === "unknown" || s === "failed") ? all : undefined;
    }, 120_000, "every acknowledged job to complete or be gone").catch((err: Error) => {
      throw new Error(`${err.message} (states: ${JSON.stringify(lastStates)})`);
    });
    // A late re-run (which would send twice) has time to show itself.
    await new Promise((r) => setTimeout(r, 2000));
    const lost = [...acknowledged.keys()].filter((to) => !sink.perRecipient.has(to.toLowerCase()));
    void states;

    // After the failover a changed config reaches every worker within a second.
    await putConfig(h, "ha0", sinkConfig(sinkB.port, 0));
    await new Promise((r) => setTimeout(r, 1000));
    const library = createEmailProducer({ redis: deployment.url, prefix: h.settings.prefix, waitReplicas: options.waitReplicas });
    const after = Array.from({ length: 20 }, (_, k) => `after${k}@ha.test`);
    try {
      await library.enqueue({ type: "incident", projectId: "ha0", to: after, idempotencyKey: `${run}-after`, data: INCIDENT });
    } finally {
      await library.close();
    }
    await Promise.race([sinkB.waitForDelivered(after.length, 30_000), sink.waitForDelivered(sink.delivered + 1, 30_000)]).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 500));
    const configSwitched = after.every((to) => sinkB.perRecipient.get(to) === 1 && !sink.perRecipient.has(to));

    const noise = children.flatMap((c) => [
      ...c.stderr.filter((l) => l.trim()).map((l) => `${c.name} stderr: ${l}`),
      // The start-up banner (workers/banner.ts) is plain text by design; it ends before "listening".
      ...afterBanner(c.stdout).filter((l) => !l.startsWith("{")).map((l) => `${c.name} stdout: ${l}`),
    ]);
    const errors = children.flatMap((c) => c.logs().filter((l) => (l.level ?? 0) >= 50).map((l) => `${c.name}: ${JSON.stringify(l).slice(0, 1500)}`));
    return {
      errors,
      prefix: h.settings.prefix,
      acknowledged: acknowledged.size,
      delivered: sink.delivered,
      lost,
      duplicates: sink.duplicates(),
      promotionMs,
      lastUnavailableAfterKillMs: lastUnavailable ? lastUnavailable.at - killedAt : 0,
      replicaBackMs,
      answers: answers.map(({ status, ms }) => ({ status, ms })),
      unexpected,
      configSwitched,
      noise,
      harness: h,
      children,
      stop,
    };
  } catch (err) {
    const described = children.map((c) => c.describe().split("\n").slice(-40).join("\n")).join("\n");
    const servers = deployment.describe();
    await stop();
    throw new Error(`${(err as Error).message}\n${described}\n${servers}`);
  }
}

function countStatuses(answers: { status: number | string }[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const { status } of answers) counts[status] = (counts[status] ?? 0) + 1;
  return counts;
}

/** One line for the report. */
export function describeResult(r: ScenarioResult, c: { waitReplicas: number; lagMs: number; manual?: boolean }): string {
  const ms = r.answers.map((a) => a.ms).sort((a, b) => a - b);
  const unavailable = r.answers.filter((a) => a.status === 503).length;
  const what = c.manual ? "planned failover" : "kill -9";
  return `REDIS_WAIT_REPLICAS=${c.waitReplicas}, replica ${c.lagMs ? `cut off ${c.lagMs} ms before the ${what}` : "keeping up"}: promotion ${r.promotionMs} ms after the ${what}, last 503 at +${r.lastUnavailableAfterKillMs} ms, old master back as replica at +${r.replicaBackMs} ms; ` +
    `${r.errors.length} error lines, ${r.answers.length} API answers (${unavailable} × 503), slowest ${ms[ms.length - 1]} ms; ${r.acknowledged} acknowledged, ${r.delivered} delivered, lost ${r.lost.length}, sent twice ${r.duplicates.length}; ` +
    `config change after failover reached the workers: ${r.configSwitched}`;
}

/** stdout from the first JSON line after the banner on (all of it when there is no banner). */
function afterBanner(lines: string[]): string[] {
  const end = lines.findIndex((l) => l.includes('"msg":"API listening"'));
  return end < 0 ? lines : lines.slice(end);
}
