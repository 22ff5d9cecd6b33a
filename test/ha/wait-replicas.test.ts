// REDIS_WAIT_REPLICAS against a master and its replica of the test's own:
// - with N=1, the moment an enqueue resolves (or a 250 marker is written) the replica has it;
// - a WAIT that times out (the replica is down) makes the enqueue reject with
//   RedisUnavailableError and the API answer 503, within 5 s; the same idempotencyKey is the
//   same job once the replica is back;
// - a marker whose WAIT fails is logged, not a failed send;
// - what it costs: enqueue latency p50/p99 over 300 enqueues, N=0 vs N=1 (reported only).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { startRedisProcess, until, type RedisProcess } from "../helpers/redis-process.ts";
import { createHarness, type Harness } from "../helpers/harness.ts";
import { createEmailProducer, RedisUnavailableError } from "../../src/index.ts";
import { SentMarkers } from "../../src/delivery/sent-markers.ts";

let master: RedisProcess;
let replica: RedisProcess;
let onReplica: Redis;
let h: Harness;

const request = (to: string, key: string) => ({
  type: "alert", projectId: "wait", to: [to], idempotencyKey: key,
  data: { alertId: "w", title: "Disk full", state: "created", severity: "warning" },
});

before(async () => {
  master = await startRedisProcess({ name: "wait-master", config: ["save \"\"", "appendonly no"] });
  replica = await startRedisProcess({ name: "wait-replica", config: ["save \"\"", "appendonly no", `replicaof 127.0.0.1 ${master.port}`] });
  await until(async () => ((await replica.cli("INFO", "replication")).includes("master_link_status:up") ? true : undefined), 20_000, "the replica's sync");
  onReplica = new Redis({ host: "127.0.0.1", port: replica.port, maxRetriesPerRequest: 1 });
  onReplica.on("error", () => {});
  h = await createHarness("wait-replicas", { worker: false, env: { REDIS_URL: `redis://127.0.0.1:${master.port}`, REDIS_WAIT_REPLICAS: "1" } });
});

after(async () => {
  await h?.close().catch(() => undefined);
  onReplica?.disconnect();
  await replica?.remove();
  await master?.remove();
});

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

test("N=1: an enqueue resolves only when the replica has the job; the latency it adds", async (t) => {
  const url = `redis://127.0.0.1:${master.port}`;
  const figures: string[] = [];
  for (const waitReplicas of [0, 1]) {
    const producer = createEmailProducer({ redis: url, prefix: h.settings.prefix, waitReplicas });
    try {
      await producer.enqueue(request("warm@example.com", `warm-${waitReplicas}`));
      const ms: number[] = [];
      for (let i = 0; i < 300; i++) {
        const started = performance.now();
        const { jobs } = await producer.enqueue(request(`lat${i}@example.com`, `lat-${waitReplicas}-${i}`));
        ms.push(performance.now() - started);
        if (waitReplicas === 1 && i % 30 === 0) {
          // Read at once from the replica: WAIT made sure it is there.
          assert.equal(await onReplica.exists(`${h.settings.prefix}:emails:${jobs[0]!.id}`), 1, `job ${i} not on the replica when enqueue resolved`);
        }
      }
      ms.sort((a, b) => a - b);
      figures.push(`N=${waitReplicas}: p50 ${percentile(ms, 50).toFixed(2)} ms, p99 ${percentile(ms, 99).toFixed(2)} ms`);
      // Concurrent callers share one WAIT per round.
      const started = performance.now();
      await Promise.all(Array.from({ length: 200 }, (_, i) => producer.enqueue(request(`par${i}@example.com`, `par-${waitReplicas}-${i}`))));
      figures.push(`N=${waitReplicas}: 200 concurrent enqueues in ${(performance.now() - started).toFixed(0)} ms`);
    } finally {
      await producer.close();
    }
  }
  t.diagnostic(`enqueue latency over 300 sequential enqueues, master + 1 replica on loopback: ${figures.join("; ")}`);
});

test("N=1 with the replica down: enqueue rejects within 5 s (API 503); the same key is one job once it is back", async () => {
  await replica.kill9();
  try {
    const producer = createEmailProducer({ redis: `redis://127.0.0.1:${master.port}`, prefix: h.settings.prefix, waitReplicas: 1 });
    const started = Date.now();
    try {
      await assert.rejects(producer.enqueue(request("nowait@example.com", "nowait")), (err: unknown) => {
        assert.ok(err instanceof RedisUnavailableError, String(err));
        assert.match(err.message, /only 0 of 1 replicas acknowledged/);
        assert.match(err.message, /retry with the same idempotencyKey/);
        return true;
      });
    } finally {
      await producer.close();
    }
    assert.ok(Date.now() - started < 5000, `rejected after ${Date.now() - started} ms`);

    const posted = Date.now();
    const res = await h.app.inject({ method: "POST", url: "/v1/emails", headers: h.auth, payload: request("nowait@example.com", "nowait") });
    assert.equal(res.statusCode, 503, res.body);
    assert.equal((res.json() as { error: { code: string } }).error.code, "redis_unavailable");
    assert.ok(Date.now() - posted < 5000, `503 after ${Date.now() - posted} ms`);
  } finally {
    await replica.restart();
  }
  await until(async () => ((await replica.cli("INFO", "replication")).includes("master_link_status:up") ? true : undefined), 20_000, "the replica's resync");
  const again = await h.app.inject({ method: "POST", url: "/v1/emails", headers: h.auth, payload: request("nowait@example.com", "nowait") });
  assert.equal(again.statusCode, 202, again.body);
  const id = (again.json() as { jobs: { id: string }[] }).jobs[0]!.id;
  assert.ok(await h.services.producer.queue.getJob(id), "the job exists");
  assert.equal(await onReplica.exists(`${h.settings.prefix}:emails:${id}`), 1);
});

test("250 markers: on the replica when set() resolves; a WAIT that fails is logged, the send is not failed", async () => {
  const markers = new SentMarkers(h.services.redis, h.services.keys, { log: h.log, waitReplicas: 1 });
  const result = { messageId: "<m@x>", response: "250 OK" };
  await markers.set("marker-ok", result);
  assert.ok(await onReplica.get(h.services.keys.sent("marker-ok")), "the marker is not on the replica");

  await replica.kill9();
  try {
    const started = Date.now();
    await markers.set("marker-degraded", result);
    assert.ok(Date.now() - started < 5000, `set() took ${Date.now() - started} ms`);
    assert.deepEqual(await markers.get("marker-degraded"), result, "the marker is on the master");
    assert.ok(h.logs.some((l) => l.includes("is not on enough Redis replicas") && l.includes('"level":40')), "no warn line");
  } finally {
    await replica.restart();
  }
});
