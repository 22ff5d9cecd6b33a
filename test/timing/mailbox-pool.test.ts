// A connection limit counts connections, not sends: once a worker holds as many slots as its
// pooled transport has connections, further sends queue on those connections, as the bare
// nodemailer pool does, instead of bouncing through Redis as "waiting for a slot". Found by
// the benchmark: with the default 10 connections and 20 jobs in flight, every other email went
// to delayed and back (1.04 moveToDelayed per email, a third of the transport's throughput).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHarness, enqueue, putConfig, waitForJobState, type Harness } from "../helpers/harness.ts";
import { startMailboxSmtp, type MailboxSmtp } from "../helpers/peers/mailbox-smtp.ts";
import { Limiter } from "../../src/mailbox/limiter.ts";
import { mailboxOf } from "../../src/mailbox/mailbox.ts";
import { CLEAR_ANSWER_MS } from "../../src/mailbox/gate.ts";
import { DeliveryError } from "../../src/errors.ts";

let h: Harness;
const servers: MailboxSmtp[] = [];

before(async () => {
  h = await createHarness("mailbox-pool", { env: { WORKER_CONCURRENCY: "20" } });
});

after(async () => {
  await h?.close();
  await Promise.all(servers.map((s) => s.close()));
});

const config = (port: number, user: string, limits?: Record<string, number>) => ({
  host: "localhost", port, secure: true, fromEmail: "status@acme.test", auth: { type: "password", username: user, password: "pw" }, ...(limits ? { limits } : {}),
});

async function slotWaits(): Promise<number> {
  const body = (await h.app.inject({ method: "GET", url: "/metrics" })).body;
  return Number(/^notify_job_waits_total\{reason="rate_limit"\} (\d+)/m.exec(body)?.[1] ?? 0);
}

for (const { name, limits, sessions } of [
  { name: "the default limit (10 connections)", limits: undefined, sessions: 5 },
  { name: "maxConnections 2", limits: { maxConnections: 2 }, sessions: 2 },
]) {
  test(`${name}, 20 jobs in flight, 120 emails: (almost) no job waits for a slot, at most ${sessions} sessions, each email once`, { timeout: 60_000 }, async (t) => {
    const smtp = await startMailboxSmtp({ users: { u: "pw" }, dataDelayMs: 5 });
    servers.push(smtp);
    const projectId = `pool-${sessions}`;
    await putConfig(h, projectId, config(smtp.port, "u", limits));
    // Until one send has worked, a mailbox gets one send per connection (the breaker must
    // hear of a server refusing every login before more are tried): the burst starts after.
    const [first] = await enqueue(h, { type: "alert", projectId, to: ["first@example.com"], data: { alertId: "0", title: "t", state: "created", severity: "high" } });
    await waitForJobState(h, first!, ["completed"], 10_000);
    const before = await slotWaits();
    const to = Array.from({ length: 120 }, (_, i) => `${projectId}-${i}@example.com`);
    const ids = await enqueue(h, { type: "alert", projectId, to, data: { alertId: "1", title: "t", state: "created", severity: "high" } });
    for (const id of ids) {
      const job = await waitForJobState(h, id, ["completed"], 30_000);
      assert.equal(job.attempts, 1);
    }
    assert.equal(smtp.accepted.length, 121);
    assert.equal(new Set(smtp.accepted.flatMap((a) => a.to)).size, 121);
    assert.ok(smtp.maxConnections <= sessions, `the server saw ${smtp.maxConnections} connections at once`);
    // None on a quiet machine; a loaded one can stretch a turn past the 200 ms line (the
    // code before the line sent 111 and 138 jobs of the 120 to delayed here; CI's loaded
    // runs have seen up to 67).
    const waits = (await slotWaits()) - before;
    assert.ok(waits < 80, `${waits} jobs went to delayed to wait for a slot`);
    t.diagnostic(`most sessions at once: ${smtp.maxConnections}; slot waits: ${waits}`);
  });
}

test("a throttle pause another replica sets is honoured here within a quarter second, though clean sends skip the acquire", { timeout: 60_000 }, async (t) => {
  const smtp = await startMailboxSmtp({ users: { p: "pw" } });
  servers.push(smtp);
  const projectId = "pool-paused";
  await putConfig(h, projectId, config(smtp.port, "p"));
  const data = { alertId: "1", title: "t", state: "created", severity: "high" };
  const [first] = await enqueue(h, { type: "alert", projectId, to: ["first@example.com"], data });
  await waitForJobState(h, first!, ["completed"], 10_000);

  // A steady trickle, one email every 10 ms; halfway, "another replica" meets a throttling reply.
  const ids: string[] = [];
  const paced = (async () => {
    for (let i = 0; i < 150; i++) {
      ids.push(...(await enqueue(h, { type: "alert", projectId, to: [`trickle-${i}@example.com`], data })));
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  await new Promise((r) => setTimeout(r, 600));
  const resolved = (await h.delivery!.resolver.resolve(projectId))!;
  const limiter = new Limiter(h.services.redis, h.services.keys);
  const failure = new DeliveryError("421 4.7.0 Try again later", { stage: "send", permanent: false, code: "throttled" });
  const paused = await limiter.release(mailboxOf(resolved.config, h.settings.masterKey), { outcome: "throttle", maxConnections: 10, retryAfterMs: 2000, failure: JSON.stringify(failure.toJSON()) });
  const pausedAt = Date.now();
  assert.equal(paused.status, "throttled");
  await paced;
  for (const id of ids) await waitForJobState(h, id, ["completed"], 30_000);

  const during = smtp.accepted.filter((a) => a.at > pausedAt + CLEAR_ANSWER_MS + 100 && a.at < pausedAt + 1900);
  assert.deepEqual(during.map((a) => a.to), [], "sent while the mailbox was paused");
  assert.ok(smtp.accepted.some((a) => a.at < pausedAt), "nothing was sent before the pause");
  assert.equal(smtp.accepted.length, 151);
  t.diagnostic(`last send after the pause began: +${Math.max(...smtp.accepted.filter((a) => a.at >= pausedAt && a.at < pausedAt + 1900).map((a) => a.at - pausedAt), 0)} ms`);
});

test("a slow mailbox does not queue its jobs in the worker: another project's email goes at once", { timeout: 90_000 }, async (t) => {
  const slow = await startMailboxSmtp({ users: { s: "pw" }, dataDelayMs: 1500 });
  const fast = await startMailboxSmtp({ users: { f: "pw" } });
  servers.push(slow, fast);
  await putConfig(h, "pool-slow", config(slow.port, "s"));
  await putConfig(h, "pool-fast", config(fast.port, "f"));
  const data = { alertId: "1", title: "t", state: "created", severity: "high" };
  // Proven, and known to be slow.
  const [first] = await enqueue(h, { type: "alert", projectId: "pool-slow", to: ["first@example.com"], data });
  await waitForJobState(h, first!, ["completed"], 10_000);

  const slowIds = await enqueue(h, { type: "alert", projectId: "pool-slow", to: Array.from({ length: 40 }, (_, i) => `slow-${i}@example.com`), data });
  await new Promise((r) => setTimeout(r, 500));
  const active = await h.services.producer.queue.getJobCounts("active");
  const started = Date.now();
  const [other] = await enqueue(h, { type: "alert", projectId: "pool-fast", to: ["other@example.com"], data });
  await waitForJobState(h, other!, ["completed"], 10_000);
  const otherMs = Date.now() - started;
  assert.ok(otherMs < 1000, `the other project's email took ${otherMs} ms`);
  assert.ok(slow.maxConnections <= 5);
  for (const id of slowIds) await waitForJobState(h, id, ["completed"], 60_000);
  assert.equal(new Set(slow.accepted.flatMap((a) => a.to)).size, 41);
  t.diagnostic(`slow mailbox: ${active.active} jobs active half a second in (10 sending, the rest on their way to delayed); the other project's email took ${otherMs} ms`);
});

test("a rate with a burst (1200/min: 50 ms apart, burst 2) still holds end to end when sends are handed out two at a time", { timeout: 60_000 }, async (t) => {
  const smtp = await startMailboxSmtp({ users: { r: "pw" } });
  servers.push(smtp);
  await putConfig(h, "pool-rate", config(smtp.port, "r", { maxConnections: 10, messagesPerMinute: 1200 }));
  const data = { alertId: "1", title: "t", state: "created", severity: "high" };
  const ids = await enqueue(h, { type: "alert", projectId: "pool-rate", to: Array.from({ length: 40 }, (_, i) => `rate-${i}@example.com`), data });
  for (const id of ids) await waitForJobState(h, id, ["completed"], 30_000);
  const times = smtp.accepted.map((a) => a.at).sort((x, y) => x - y);
  assert.equal(times.length, 40);
  // Admitted 20 a second with a burst of 2; measured where the provider measures, at the
  // server, where a loaded machine adds up to a few hundred ms of jitter per send: at most 26
  // in any second (all 40 would arrive within a few hundred ms without the rate).
  for (let i = 0; i < times.length; i++) {
    const inWindow = times.filter((x) => x >= times[i]! && x < times[i]! + 1000).length;
    assert.ok(inWindow <= 26, `${inWindow} sends within a second`);
  }
  assert.ok(times.at(-1)! - times[0]! >= 1600, `40 sends in ${times.at(-1)! - times[0]!} ms`);
  t.diagnostic(`40 sends over ${times.at(-1)! - times[0]!} ms`);
});
