// Ctrl-C, `kill -TERM -- -<pgid>` and systemd's stop send the signal to every process of the
// group: npm, tsx and node each get it, and npm and tsx pass it on again. However many copies
// arrive, `npm run worker` must stop taking jobs, let every in-flight send finish, exit 0 and
// say it stopped; every email goes out exactly once (the rest are delivered by the next worker).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHarness, eventually, putConfig, type Harness } from "../helpers/harness.ts";
import { startCountingSink, sinkConfig, type CountingSink } from "../helpers/counting-sink.ts";
import { childWorkerEnv, spawnChildWorker, startChildWorker, writeTestCaFile, type CaFile, type ChildWorker } from "../helpers/child-worker.ts";
import { freePort } from "../helpers/smtp-server.ts";

// 24 senders × 5 emails: the first 60 jobs the worker takes belong to 12 of them, whose pooled
// transports (5 connections each) can all be sending at once.
const PROJECTS = 24;
let h: Harness;
let sink: CountingSink;
let ca: CaFile;
const children: ChildWorker[] = [];

before(async () => {
  h = await createHarness("signals", { worker: false });
  // 1 s per message (not the 300 ms we first used): on a loaded 2-core machine the 60 TLS
  // connections take longer than 300 ms to open, and fewer than 50 sends would overlap.
  sink = await startCountingSink({ delayMs: 1000 });
  ca = writeTestCaFile();
  for (let i = 0; i < PROJECTS; i++) await putConfig(h, `sig${i}`, sinkConfig(sink.port, i));
});

after(async () => {
  await Promise.all(children.map((c) => c.kill("SIGKILL")));
  await h?.close();
  await sink?.close();
  ca?.remove();
});

async function enqueueBatch(tag: string, perProject: number): Promise<string[]> {
  const ids: string[] = [];
  for (let p = 0; p < PROJECTS; p++) {
    const to = Array.from({ length: perProject }, (_, i) => `${tag}-${p}-${i}@example.com`);
    const res = await h.app.inject({
      method: "POST", url: "/v1/emails", headers: h.auth,
      payload: { type: "incident", projectId: `sig${p}`, to, data: { incidentId: tag, title: "Down", state: "created", severity: "critical" } },
    });
    assert.equal(res.statusCode, 202, res.body);
    ids.push(...(res.json() as { jobs: { id: string }[] }).jobs.map((j) => j.id));
  }
  return ids;
}

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  test(`${signal} to the process group of \`npm run worker\` mid-batch: in-flight sends finish, exit 0, every email once`, async (t) => {
    // The batch is queued first, so that the worker takes 60 jobs at once when it starts.
    const ids = await enqueueBatch(signal.toLowerCase(), 5);
    const env = childWorkerEnv(h.childEnv, ca.path, { WORKER_CONCURRENCY: "60" });
    const worker = await startChildWorker({ name: `npm-worker-${signal}`, command: ["npm", "run", "--silent", "worker"], env }, 60_000);
    children.push(worker);
    // Whatever happens here, nothing of this test may go on taking the next test's jobs.
    t.after(() => Promise.all(children.map((c) => c.kill("SIGKILL"))));
    const total = ids.length;
    const deliveredBefore = sink.delivered;

    await sink.waitForInFlight(50, 30_000).catch(async (err: Error) => {
      const counts = await h.services.producer.queue.getJobCounts();
      const [failed] = await h.services.producer.queue.getFailed(0, 0);
      const [done] = await h.services.producer.queue.getCompleted(0, 0);
      throw new Error(`${err.message}; sink delivered ${sink.delivered}, at most ${sink.maxInFlight} at once; jobs ${JSON.stringify(counts)} ${failed?.failedReason ?? ""} ${JSON.stringify(done?.returnvalue)}\n${worker.describe()}`);
    });
    const inFlight = sink.inFlight;
    worker.signalGroup(signal);
    // The copies that npm and tsx relay, and an impatient operator pressing Ctrl-C again.
    setTimeout(() => worker.signalGroup(signal), 50);
    setTimeout(() => worker.signalGroup(signal), 150);
    const exit = await worker.waitForExit(30_000);
    assert.deepEqual(exit, { code: 0, signal: null }, worker.describe());
    const messages = worker.logs().map((l) => l.msg);
    assert.ok(messages.includes("shutting down"), worker.describe());
    assert.ok(messages.includes("stopped"), worker.describe());
    assert.equal(sink.abandoned, 0, "a send in flight was cut off");
    const deliveredByFirst = sink.delivered - deliveredBefore;
    assert.ok(deliveredByFirst >= inFlight, `${deliveredByFirst} delivered by the stopped worker, ${inFlight} were in flight`);
    t.diagnostic(`${inFlight} in flight at the signal; the stopped worker delivered ${deliveredByFirst} of ${total}`);

    // Nothing it left behind is stuck: a fresh worker delivers the rest, each once.
    const next = await startChildWorker({ name: `next-${signal}`, env }, 60_000);
    children.push(next);
    await sink.waitForDelivered(deliveredBefore + total, 60_000);
    const queue = h.services.producer.queue;
    await eventually(async () => {
      const states = await Promise.all(ids.map((id) => queue.getJobState(id)));
      return states.every((s) => s === "completed") ? true : undefined;
    }, 30_000, "every job completed");
    assert.deepEqual(sink.duplicates(), [], "an email was delivered twice");
    const tag = signal.toLowerCase();
    const mine = [...sink.perRecipient].filter(([to]) => to.startsWith(`${tag}-`));
    assert.equal(mine.length, total);
    await next.kill("SIGTERM", 30_000);
  });
}

for (const script of ["api", "start"] as const) {
  test(`SIGTERM three times to the process group of \`npm run ${script}\`: exit 0 and "stopped"`, async (t) => {
    const env = childWorkerEnv(h.childEnv, ca.path, { PORT: String(await freePort()) });
    const child = startChildWorkerless(script, env);
    children.push(child);
    t.after(() => child.kill("SIGKILL"));
    await child.waitForLog((l) => l.msg === "API listening", 60_000, "API listening");
    // Back to back: an idle role stops within milliseconds, and npm, once its child is gone, no
    // longer catches a late copy (it would die of it, which says nothing about us).
    for (let i = 0; i < 3; i++) child.signalGroup("SIGTERM");
    assert.deepEqual(await child.waitForExit(30_000), { code: 0, signal: null }, child.describe());
    assert.ok(child.logs().some((l) => l.msg === "stopped"), child.describe());
  });
}

function startChildWorkerless(script: string, env: NodeJS.ProcessEnv): ChildWorker {
  return spawnChildWorker({ name: `npm-${script}`, command: ["npm", "run", "--silent", script], env });
}
