// Sending limits with real worker processes (3 on one prefix) against SMTP peers that count
// sessions per user and answer like providers do: a mailbox's limits hold across replicas,
// other projects keep flowing, throttling and quota replies make jobs wait (attempts
// untouched), and the breaker opens after 5 incurable failures and closes on a PUT.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHarness, enqueue, eventually, getJob, putConfig, type Harness, type JobView } from "../helpers/harness.ts";
import { childWorkerEnv, startChildWorker, writeTestCaFile, type CaFile, type ChildWorker } from "../helpers/child-worker.ts";
import { startMailboxSmtp, type MailboxSmtp } from "../helpers/peers/mailbox-smtp.ts";

let h: Harness;
let ca: CaFile;
const children: ChildWorker[] = [];
const servers: MailboxSmtp[] = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

before(async () => {
  h = await createHarness("mailbox-limits", { worker: false, env: { BREAKER_MAX_WAIT_MS: "60000" } });
  ca = writeTestCaFile();
  const env = childWorkerEnv(h.childEnv, ca.path);
  children.push(...(await Promise.all(["w1", "w2", "w3"].map((name) => startChildWorker({ name, env }, 60_000)))));
});

after(async () => {
  await Promise.all(children.map((c) => c.kill("SIGKILL")));
  await h?.close();
  await Promise.all(servers.map((s) => s.close()));
  ca?.remove();
});

async function server(options: Parameters<typeof startMailboxSmtp>[0]): Promise<MailboxSmtp> {
  const s = await startMailboxSmtp(options);
  servers.push(s);
  return s;
}

function config(port: number, user: string, pass: string, limits?: Record<string, number>): Record<string, unknown> {
  return { host: "localhost", port, secure: true, fromEmail: "status@acme.test", auth: { type: "password", username: user, password: pass }, ...(limits ? { limits } : {}) };
}

function send(projectId: string, count: number, title: string): Promise<string[]> {
  const to = Array.from({ length: count }, (_, i) => `${title}-${i}@example.com`);
  return enqueue(h, { type: "incident", projectId, to, data: { incidentId: title, title, state: "created", severity: "major" } });
}

async function views(ids: string[]): Promise<JobView[]> {
  return Promise.all(ids.map((id) => getJob(h, id)));
}

/** All completed, each in its one (successful) attempt; and nothing failed on the way. */
async function allCompleted(ids: string[], timeoutMs: number): Promise<void> {
  await eventually(async () => {
    const vs = await views(ids);
    const failed = vs.find((v) => v.state === "failed");
    if (failed) throw new Error(`a job failed: ${JSON.stringify(failed)}`);
    return vs.every((v) => v.state === "completed") ? true : undefined;
  }, timeoutMs, `${ids.length} jobs to complete`);
  for (const v of await views(ids)) assert.equal(v.attempts, 1, `job ${v.id} used more than the attempt that sent it`);
}

test("2 connections and 120/min across 3 workers: never more than 2 sessions, sends 500 ms apart, each once; another project flows meanwhile", async (t) => {
  const limited = await server({ users: { a: "pa" }, dataDelayMs: 150 });
  const other = await server({ users: { b: "pb" } });
  await putConfig(h, "limited", config(limited.port, "a", "pa", { maxConnections: 2, messagesPerMinute: 120 }));
  await putConfig(h, "other", config(other.port, "b", "pb"));

  const ids = await send("limited", 12, "burst");
  // While the mailbox is saturated, its jobs show why they wait.
  const seen = new Set<string>();
  await eventually(async () => {
    for (const v of await views(ids)) if (v.state === "delayed" && v.waitingFor) seen.add(v.waitingFor);
    return seen.has("rate_limit") ? true : undefined;
  }, 10_000, "a job delayed with waitingFor rate_limit");

  const started = Date.now();
  const [incident] = await send("other", 1, "incident");
  await eventually(() => (other.accepted.length === 1 ? true : undefined), 5000, "the other project's email while the mailbox is saturated");
  const otherMs = Date.now() - started;
  assert.ok(limited.accepted.length < 12, "the limited mailbox was still busy when the other email went");

  await allCompleted(ids, 40_000);
  await allCompleted([incident!], 5000);
  await sleep(500);
  assert.equal(limited.accepted.length, 12, "no email twice");
  assert.deepEqual(new Set(limited.accepted.flatMap((a) => a.to)), new Set(Array.from({ length: 12 }, (_, i) => `burst-${i}@example.com`)));
  assert.ok(limited.maxConnections <= 2, `the server saw ${limited.maxConnections} connections at once`);
  assert.ok((limited.maxSessions.a ?? 0) <= 2);

  // 120/min = one per 500 ms. Measured where the provider measures, at the server, so a few
  // hundred ms of per-send jitter is allowed; a burst would put 5 in far less than 1.5 s.
  const times = limited.accepted.map((a) => a.at).sort((x, y) => x - y);
  for (let i = 0; i + 4 < times.length; i++) assert.ok(times[i + 4]! - times[i]! >= 1500, `5 sends within ${times[i + 4]! - times[i]!} ms`);
  assert.ok(times.at(-1)! - times[0]! >= 4500, `12 sends in ${times.at(-1)! - times[0]!} ms`);
  for (let i = 0; i < times.length; i++) assert.ok(times.filter((t) => t >= times[i]! && t < times[i]! + 60_000).length <= 120);
  assert.ok(otherMs < 5000, `the other project's email took ${otherMs} ms`);
  t.diagnostic(`sends at +${times.map((x) => x - times[0]!).join(", +")} ms; the other project's email took ${otherMs} ms`);
});

test("a server allowing 1 session answers 432 4.3.2 to the next: the mailbox backs off and everything arrives, no attempt used", async (t) => {
  const smtp = await server({ users: { c: "pc" }, maxSessionsPerUser: 1, dataDelayMs: 200 });
  await putConfig(h, "sessions", config(smtp.port, "c", "pc", { maxConnections: 3 }));
  const ids = await send("sessions", 6, "sessions");
  await allCompleted(ids, 30_000);
  assert.ok((smtp.refusals["432"] ?? 0) >= 1, "the server refused a second session at least once");
  assert.equal(smtp.accepted.length, 6);
  const first = smtp.accepted[0]!.at;
  t.diagnostic(`432 replies: ${smtp.refusals["432"]}; sends at +${smtp.accepted.map((a) => a.at - first).join(", +")} ms`);
});

test("a server answering 421 4.7.0 for 2 s: the jobs wait it out and all arrive, no attempt used", async () => {
  const smtp = await server({ users: { d: "pd" }, throttleUntil: Date.now() + 2000 });
  await putConfig(h, "throttled", config(smtp.port, "d", "pd"));
  const ids = await send("throttled", 4, "throttled");
  await eventually(async () => ((await views(ids)).some((v) => v.waitingFor === "throttled") ? true : undefined), 10_000, "a job waiting for the throttled mailbox");
  await allCompleted(ids, 30_000);
  assert.ok((smtp.refusals["421"] ?? 0) >= 1);
  assert.equal(smtp.accepted.length, 4);
});

test("535 5.7.139 on every AUTH: the breaker opens after 5, jobs wait with their attempts, a PUT with a working config sends them all", async () => {
  const smtp = await server({ users: { good: "pg" }, refuseAuth: { legacy: { code: 535, message: "5.7.139 Authentication unsuccessful, basic authentication is disabled." } } });
  await putConfig(h, "legacy", config(smtp.port, "legacy", "old-pass", { maxConnections: 2 }));
  const ids = await send("legacy", 8, "legacy");

  const health = await eventually(async () => {
    const res = await h.app.inject({ method: "GET", url: "/v1/projects/legacy/smtp-config", headers: h.auth });
    const body = res.json() as { health: { state: string; since: string; lastError: string }; limits: { maxConnections: number }; limitsSource: string };
    return body.health.state === "open" ? body : undefined;
  }, 15_000, "the breaker to open");
  assert.match(health.health.lastError, /^\[auth\] 535: 5\.7\.139/);
  assert.match(health.health.lastError, /OAuth over SMTP/);
  assert.match(health.health.lastError, /Graph transport/);
  assert.match(health.health.lastError, /December 2026/);
  assert.ok(!Number.isNaN(Date.parse(health.health.since)));
  assert.deepEqual([health.limits.maxConnections, health.limitsSource], [2, "config"]);
  // 5 failures open it; at most one more was already in flight on the second connection.
  await sleep(500);
  const attempts = smtp.authAttempts;
  assert.ok(attempts >= 5 && attempts <= 6, `${attempts} AUTH attempts`);
  await sleep(1200);
  assert.equal(smtp.authAttempts, attempts, "nothing tries the mailbox while its breaker is open");
  // A job whose backoff ran out passes through active on its way back to delayed (the breaker
  // is open): on a loaded machine that moment can be caught, so all 8 are asked until they are.
  const waiting = await eventually(async () => {
    const vs = await views(ids);
    for (const v of vs) assert.equal(v.attempts, 0, `waiting used no attempt: ${JSON.stringify(v)}`);
    return vs.every((v) => v.state === "delayed") ? vs : undefined;
  }, 5_000, "all 8 jobs delayed");
  for (const v of waiting) assert.ok(v.waitingFor === "breaker_open" || v.waitingFor === "backoff", JSON.stringify(v));
  assert.ok(waiting.some((v) => v.waitingFor === "breaker_open"));
  assert.equal(smtp.authAttempts, attempts, "nothing tries the mailbox while its breaker is open");

  const fixedAt = Date.now();
  await putConfig(h, "legacy", config(smtp.port, "good", "pg", { maxConnections: 2 }));
  await allCompleted(ids, 10_000);
  assert.ok(Date.now() - fixedAt < 10_000);
  assert.equal(smtp.accepted.length, 8);
  assert.ok(smtp.accepted.every((a) => a.user === "good"));
});

test("a quota reply after 3 messages: the rest wait for the day's window, none fails, no attempt used", async () => {
  const smtp = await server({ users: { q: "pq" }, quotaAfter: 3 });
  await putConfig(h, "quota", config(smtp.port, "q", "pq", { maxConnections: 1 }));
  const ids = await send("quota", 8, "quota");
  await eventually(() => (smtp.accepted.length === 3 && (smtp.refusals["554"] ?? 0) >= 1 ? true : undefined), 20_000, "3 sent and a quota reply");
  // Jobs that were waiting for the one connection learn about the quota when they next run.
  await eventually(async () => ((await views(ids)).filter((v) => v.state === "delayed" && /quota/.test(v.waitReason ?? "")).length === 5 ? true : undefined), 15_000, "5 jobs waiting for the quota");
  const refused = smtp.refusals["554"]!;
  await sleep(1000);
  assert.equal(smtp.accepted.length, 3);
  assert.equal(smtp.refusals["554"], refused, "nothing tries the mailbox again today");
  assert.ok(refused <= 2, `${refused} quota replies`);
  const vs = await views(ids);
  assert.equal(vs.filter((v) => v.state === "completed").length, 3);
  for (const v of vs) {
    assert.notEqual(v.state, "failed");
    assert.equal(v.attempts, v.state === "completed" ? 1 : 0);
    if (v.state !== "delayed") continue;
    assert.equal(v.waitingFor, "rate_limit");
    assert.match(v.waitReason ?? "", /quota/);
    assert.ok(Date.parse(v.waitingUntil ?? "") > Date.now() + 1000);
  }
});
