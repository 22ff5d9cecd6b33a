// Graph's MailboxConcurrency (4 requests at once per mailbox) holds across worker replicas:
// two real worker processes, WORKER_CONCURRENCY 10 each, against a Graph-compatible peer that
// holds every request for a while and counts how many are in flight per mailbox.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHarness, enqueue, eventually, getJob, putConfig, type Harness } from "../helpers/harness.ts";
import { childWorkerEnv, startChildWorker, writeTestCaFile, type CaFile, type ChildWorker } from "../helpers/child-worker.ts";
import { startTokenServer, type TestTokenServer } from "../helpers/token-server.ts";
import { startGraphPeer, type GraphPeer } from "../helpers/peers/graph.ts";

let h: Harness;
let ca: CaFile;
let tokens: TestTokenServer;
let graph: GraphPeer;
const children: ChildWorker[] = [];

before(async () => {
  h = await createHarness("graph-concurrency", { worker: false });
  ca = writeTestCaFile();
  tokens = await startTokenServer({ client: { id: "app-1", secret: "cs-graph-conc" } });
  graph = await startGraphPeer({ tokens, mailboxes: { "busy@contoso.test": ["app-1"] }, delayMs: 150 });
  const env = childWorkerEnv(h.childEnv, ca.path);
  children.push(...(await Promise.all(["g1", "g2"].map((name) => startChildWorker({ name, env }, 60_000)))));
});

after(async () => {
  await Promise.all(children.map((c) => c.kill("SIGKILL")));
  await h?.close();
  await graph?.close();
  await tokens?.close();
  ca?.remove();
});

test("never more than 4 concurrent sendMail requests for one mailbox across 2 worker processes; every email once", async (t) => {
  await putConfig(h, "busy", {
    transport: "graph", fromEmail: "busy@contoso.test", graphUrl: graph.url,
    auth: { type: "oauth", clientId: "app-1", clientSecret: "cs-graph-conc", tokenUrl: tokens.url },
  });
  const to = Array.from({ length: 24 }, (_, i) => `r${i}@example.com`);
  const ids = await enqueue(h, { type: "alert", projectId: "busy", to, data: { alertId: "a1", title: "Disk", state: "created", severity: "low" } });
  await eventually(async () => {
    const views = await Promise.all(ids.map((id) => getJob(h, id)));
    const failed = views.find((v) => v.state === "failed");
    if (failed) throw new Error(`a job failed: ${JSON.stringify(failed)}`);
    return views.every((v) => v.state === "completed") ? views : undefined;
  }, 30_000, "24 Graph jobs to complete");
  const max = graph.maxConcurrent("busy@contoso.test");
  t.diagnostic(`most sendMail requests in flight at once: ${max}`);
  assert.ok(max <= 4, `${max} requests at once`);
  assert.ok(max >= 2, `the limit was approached (${max} at once), so the bound was tested`);
  assert.equal(graph.mails.length, 24);
  assert.equal(new Set(graph.mails.map((m) => m.parsed.to && !Array.isArray(m.parsed.to) ? m.parsed.to.value[0]?.address : "")).size, 24, "each recipient once");
  // Both processes sent (the bound held across replicas, not inside one).
  const senders = children.filter((c) => c.logs().some((l) => l.msg === "sent"));
  assert.equal(senders.length, 2, "both workers delivered some");
  assert.ok(graph.requests.every((r) => r.status !== 429), "Graph never had to throttle");
});
