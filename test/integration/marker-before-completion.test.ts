// The 250 marker goes out in the same write as the job's completion, ahead of it, on the
// worker's BullMQ connection: one round trip per email instead of two, and Redis never has a
// completion without its marker. Watched with MONITOR on a redis-server of the test's own.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { createHarness, enqueue, passwordConfig, putConfig, waitForJobState, type Harness } from "../helpers/harness.ts";
import { startTestSmtpServer, type TestSmtpServer } from "../helpers/smtp-server.ts";
import { startPrivateRedis, type PrivateRedis } from "../helpers/private-redis.ts";

let redis: PrivateRedis;
let h: Harness;
let smtp: TestSmtpServer;

before(async () => {
  redis = await startPrivateRedis();
  h = await createHarness("marker-before-completion", { env: { REDIS_URL: redis.url } });
  smtp = await startTestSmtpServer({ password: { user: "mailer", pass: "s3cret-pass" } });
  await putConfig(h, "marker", passwordConfig(smtp.port, "mailer", "s3cret-pass"));
});

after(async () => {
  await h?.close();
  await smtp?.close();
  await redis?.stop();
});

interface Seen {
  source: string;
  args: string[];
}

test("each email's marker reaches Redis just before its completion, from the same connection", { timeout: 60_000 }, async () => {
  // Warm: pools connected, BullMQ's scripts loaded.
  const [warm] = await enqueue(h, { type: "incident", projectId: "marker", to: ["warm@example.com"], data: { incidentId: "0", title: "t", state: "created", severity: "major" } });
  await waitForJobState(h, warm!, ["completed"], 10_000);

  const watcher = new Redis(redis.url);
  const monitor = await watcher.monitor();
  const seen: Seen[] = [];
  monitor.on("monitor", (_time: string, args: string[], source: string) => seen.push({ source, args }));
  try {
    const ids = await enqueue(h, { type: "incident", projectId: "marker", to: Array.from({ length: 40 }, (_, i) => `m${i}@example.com`), data: { incidentId: "1", title: "t", state: "created", severity: "major" } });
    for (const id of ids) await waitForJobState(h, id, ["completed"], 20_000);
    for (const id of ids) {
      const markerKey = h.services.keys.sent(id);
      const marker = seen.findIndex((s) => s.args[0]?.toLowerCase() === "set" && s.args[1] === markerKey);
      assert.ok(marker >= 0, `no SET of ${markerKey}`);
      assert.equal(await h.services.redis.exists(markerKey), 1);
      // The completion: BullMQ's moveToFinished names the job's key, `<prefix>:<queue>:<id>`.
      const completion = seen.findIndex((s, i) => i > marker && s.args[0]?.toLowerCase() === "evalsha" && s.args.some((a) => a.endsWith(`:${id}`)) && s.args.includes("completed"));
      assert.ok(completion > marker, `job ${id}: no completion after its marker`);
      assert.equal(seen[completion]!.source, seen[marker]!.source, `job ${id}: marker and completion came from different connections`);
      assert.ok(!seen.slice(0, marker).some((s) => s.args[0]?.toLowerCase() === "evalsha" && s.args.some((a) => a.endsWith(`:${id}`)) && s.args.includes("completed")), `job ${id} completed before its marker`);
    }
  } finally {
    monitor.disconnect();
    watcher.disconnect();
  }
});
