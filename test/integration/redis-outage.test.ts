// Redis killed with kill -9 while emails are in flight, kept away for longer than any job
// lock (40 s by default), then restarted from its AOF. Real processes: two workers and the
// API (`workers/api.ts`), plus the library in an application process of its own.
// - nothing is lost and nothing is sent twice (counted at the sink, per recipient);
// - during the outage the API answers 503 redis_unavailable and the library rejects with
//   RedisUnavailableError, each within 5 s;
// - no process prints a stack trace or a non-JSON line; each says once that Redis went away
//   and once that it is back; everything resumes by itself.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHarness, eventually, putConfig, type Harness } from "../helpers/harness.ts";
import { startCountingSink, sinkConfig, type CountingSink } from "../helpers/counting-sink.ts";
import { startPrivateRedis, type PrivateRedis } from "../helpers/private-redis.ts";
import { freePort } from "../helpers/smtp-server.ts";
import {
  childWorkerEnv, PROJECT_ROOT, spawnChildWorker, startChildWorker, writeTestCaFile, type CaFile, type ChildWorker,
} from "../helpers/child-worker.ts";

const OUTAGE_MS = Number(process.env.NOTIFY_TEST_OUTAGE_MS ?? 40_000);
const PROJECTS = 8;
const PER_PROJECT = 40;

let redis: PrivateRedis;
let h: Harness;
let sink: CountingSink;
let ca: CaFile;
const children: ChildWorker[] = [];

before(async () => {
  redis = await startPrivateRedis();
  h = await createHarness("redis-outage", { worker: false, env: { REDIS_URL: redis.url } });
  sink = await startCountingSink({ delayMs: 300 });
  ca = writeTestCaFile();
  for (let i = 0; i < PROJECTS; i++) await putConfig(h, `out${i}`, sinkConfig(sink.port, i));
});

after(async () => {
  await Promise.all(children.map((c) => c.kill("SIGKILL")));
  if (!redis.running) await redis.restart().catch(() => undefined);
  await h?.close().catch(() => undefined);
  await sink?.close();
  await redis?.stop();
  ca?.remove();
});

/** The library in a process of its own; resolves with its one JSON line and its stderr. */
function enqueueFromApplication(): Promise<{ result: { ok: boolean; ms: number; error?: { name: string } }; stdout: string; stderr: string; wallMs: number }> {
  const started = Date.now();
  const child = spawn(process.execPath, ["--import", "tsx", "test/helpers/enqueue-child.ts"], {
    cwd: PROJECT_ROOT, env: { ...process.env, REDIS_URL: redis.url, NOTIFY_PREFIX: h.settings.prefix, NODE_TEST_CONTEXT: "" }, stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
  child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve, reject) => {
    child.once("close", () => {
      try {
        resolve({ result: JSON.parse(stdout.trim().split("\n").pop() ?? "{}"), stdout, stderr, wallMs: Date.now() - started });
      } catch (err) {
        reject(new Error(`enqueue child printed ${JSON.stringify(stdout)} / ${JSON.stringify(stderr)}: ${(err as Error).message}`));
      }
    });
  });
}

test(`Redis killed for ${OUTAGE_MS / 1000} s with emails in flight: none lost, none sent twice, answers within 5 s, one line each way`, async (t) => {
  const env = childWorkerEnv(h.childEnv, ca.path, { WORKER_CONCURRENCY: "20" });
  const apiPort = await freePort();
  const workers = await Promise.all(["outage-a", "outage-b"].map((name) => startChildWorker({ name, env }, 60_000)));
  children.push(...workers);
  const api = spawnChildWorker({ name: "outage-api", script: "workers/api.ts", env: { ...env, PORT: String(apiPort) } });
  children.push(api);
  await api.waitForLog((l) => l.msg === "API listening", 60_000, "API listening");
  const base = `http://127.0.0.1:${apiPort}`;
  const auth = { authorization: `Bearer ${h.childEnv.NOTIFY_ADMIN_TOKEN}`, "content-type": "application/json" };

  const ids: string[] = [];
  for (let p = 0; p < PROJECTS; p++) {
    const to = Array.from({ length: PER_PROJECT }, (_, i) => `o${p}-${i}@example.com`);
    const res = await fetch(`${base}/v1/emails`, { method: "POST", headers: auth, body: JSON.stringify({ type: "incident", projectId: `out${p}`, to, data: { incidentId: "1", title: "Down", state: "created", severity: "critical" } }) });
    assert.equal(res.status, 202);
    ids.push(...((await res.json()) as { jobs: { id: string }[] }).jobs.map((j) => j.id));
  }
  const total = ids.length;

  await sink.waitForInFlight(20, 30_000);
  const inFlightAtKill = sink.inFlight;
  const deliveredAtKill = sink.delivered;
  // From here on every line must be JSON (the roles' start-up banners come before).
  const linesBefore = new Map([...workers, api].map((c) => [c.name, c.stdout.length]));
  await redis.kill9();
  const killedAt = Date.now();

  // During the outage: the API and the library answer within 5 s, with the right error.
  await new Promise((r) => setTimeout(r, 1500));
  const posted = Date.now();
  const res = await fetch(`${base}/v1/emails`, { method: "POST", headers: auth, body: JSON.stringify({ type: "alert", projectId: "out0", to: ["during@example.com"], data: { alertId: "x", title: "x", state: "created", severity: "minor" } }) });
  const apiMs = Date.now() - posted;
  assert.equal(res.status, 503);
  assert.equal(((await res.json()) as { error: { code: string } }).error.code, "redis_unavailable");
  assert.ok(apiMs < 5000, `the API answered after ${apiMs} ms`);
  const lib = await enqueueFromApplication();
  assert.equal(lib.result.ok, false, lib.stdout);
  assert.equal(lib.result.error?.name, "RedisUnavailableError");
  assert.ok(lib.result.ms < 5000, `the library rejected after ${lib.result.ms} ms`);
  assert.equal(lib.stderr, "", "the library printed to stderr");
  assert.equal(lib.stdout.trim().split("\n").length, 1, `the library printed: ${lib.stdout}`);
  const ready = await fetch(`${base}/readyz`);
  assert.equal(ready.status, 503);

  const rest = OUTAGE_MS - (Date.now() - killedAt);
  if (rest > 0) await new Promise((r) => setTimeout(r, rest));
  await redis.restart();
  const restartedAt = Date.now();

  await sink.waitForDelivered(total, 90_000);
  const queue = h.services.producer.queue;
  await eventually(async () => {
    const states = await Promise.all(ids.map((id) => queue.getJobState(id)));
    return states.every((s) => s === "completed") ? true : undefined;
  }, 60_000, "every job completed");
  const recoveredMs = Date.now() - restartedAt;
  // The in-flight jobs lost their locks and ran again: their 250 marker, not luck, kept them from sending twice.
  const reRuns = (await Promise.all(ids.map((id) => queue.getJob(id)))).filter((j) => j && j.stalledCounter > 0);
  const deduplicated = reRuns.filter((j) => (j?.returnvalue as { deduplicated?: boolean } | undefined)?.deduplicated).length;
  // Anything late (a re-run that would send again) has had time to show itself.
  await new Promise((r) => setTimeout(r, 2000));
  assert.deepEqual(sink.duplicates(), [], "an email was sent twice");
  assert.equal(sink.perRecipient.size, total, "an email was lost");
  assert.equal(sink.delivered, total);

  // The API works again without a restart.
  const after = await fetch(`${base}/v1/emails`, { method: "POST", headers: auth, body: JSON.stringify({ type: "alert", projectId: "out0", to: ["after@example.com"], idempotencyKey: "after", data: { alertId: "y", title: "y", state: "created", severity: "minor" } }) });
  assert.equal(after.status, 202);
  await sink.waitForDelivered(total + 1, 30_000);

  for (const child of [...workers, api]) {
    assert.deepEqual(child.stderr.filter((l) => l.trim()), [], `${child.name} wrote to stderr\n${child.describe()}`);
    const notJson = child.stdout.slice(linesBefore.get(child.name)).filter((l) => !l.startsWith("{"));
    assert.deepEqual(notJson, [], `${child.name} printed non-JSON lines`);
    const lost = child.logs().filter((l) => l.msg?.startsWith("Redis connection lost"));
    const back = child.logs().filter((l) => l.msg === "Redis connection is back");
    assert.equal(lost.length, 1, `${child.name}: ${lost.length} "lost" lines\n${child.describe()}`);
    assert.ok(back.length >= 1, `${child.name}: no "back" line\n${child.describe()}`);
  }
  t.diagnostic(`${total} emails; ${inFlightAtKill} in flight and ${deliveredAtKill} delivered at the kill; outage ${OUTAGE_MS} ms; ` +
    `API 503 in ${apiMs} ms, library rejected in ${lib.result.ms} ms; all delivered ${recoveredMs} ms after the restart; ${reRuns.length} jobs re-run after a lost lock, ${deduplicated} of them found their marker; lost 0, twice 0`);
});
