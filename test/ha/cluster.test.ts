// A Redis Cluster of 3 masters + 3 replicas (an ACL user on every node), through
// redis+cluster://: 500 emails, 2 worker processes and the API process, and kill -9 of the
// master holding our slot mid-batch: a plain kill, then with the replicas cut off before it, without REDIS_WAIT_REPLICAS and with 1.
// - every key the run made (ours and BullMQ's) is in the prefix's one slot, on one master;
// - the API answers every request within 5 s, 202 or 503, during the failover;
// - with REDIS_WAIT_REPLICAS=1 no acknowledged email is lost, even with the replica cut off;
//   lost and duplicated counts of every run are reported (without it, a cut-off replica
//   costs lost emails and duplicates: jobs, completions and 250 markers die with the master);
// - a config PUT after the failover reaches both workers within a second.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { startRedisCluster, type RedisCluster } from "../helpers/redis-cluster.ts";
import { describeResult, runFailoverScenario, type Deployment } from "./failover-scenario.ts";
import { keySlot } from "../../src/redis/connect.ts";

const USER = { name: "notify", password: "cluster-s3cret" };
let cluster: RedisCluster;
let deployment: Deployment;

before(async () => {
  cluster = await startRedisCluster({ masters: 3, replicas: 1, nodeTimeoutMs: 1000, user: USER });
  deployment = {
    url: cluster.url,
    master: (prefix) => cluster.masterOf(prefix),
    waitForPromotion: (prefix, previous) => cluster.waitForPromotion(prefix, previous),
    replicasOf: (master) => cluster.replicasOf(master),
    cutOff: (replica) => cluster.cutOff(replica),
    rejoin: (replica) => cluster.rejoin(replica),
    manualFailover: (master) => cluster.manualFailover(master),
    describe: () => cluster.describe(),
    waitForReplica: (node) => cluster.waitForReplica(node),
  };
});

after(async () => {
  await cluster?.stop();
});

/** Every key of `prefix` on every master, with the slot the server gives it. */
async function keysByNode(prefix: string): Promise<Map<number, { key: string; slot: number }[]>> {
  const found = new Map<number, { key: string; slot: number }[]>();
  for (const node of cluster.nodes.filter((n) => n.running)) {
    const redis = new Redis({ host: "127.0.0.1", port: node.port, username: USER.name, password: USER.password, lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await redis.connect();
      if (!(await redis.call("ROLE") as unknown[])[0]?.toString().startsWith("master")) continue;
      const keys: string[] = [];
      let cursor = "0";
      do {
        const [next, batch] = await redis.scan(cursor, "MATCH", `${prefix.replace(/[*?[\]\\]/g, "\\$&")}*`, "COUNT", 1000);
        cursor = next;
        keys.push(...batch);
      } while (cursor !== "0");
      const pipeline = redis.pipeline();
      for (const key of keys) pipeline.cluster("KEYSLOT", key);
      const slots = ((await pipeline.exec()) ?? []).map(([, slot]) => Number(slot));
      if (keys.length > 0) found.set(node.port, keys.map((key, i) => ({ key, slot: slots[i]! })));
    } finally {
      redis.disconnect();
    }
  }
  return found;
}

// A plain kill, the same with the replicas cut off 1.5 s before it (what WAIT is for), and a
// planned failover (maintenance: the master stays up and is demoted).
const CASES = [
  { waitReplicas: 0, lagMs: 0 },
  { waitReplicas: 0, lagMs: 1500 },
  { waitReplicas: 1, lagMs: 1500 },
  { waitReplicas: 1, lagMs: 0, manual: true },
];

for (const { waitReplicas, lagMs, manual } of CASES) {
  test(`Cluster, REDIS_WAIT_REPLICAS=${waitReplicas}${lagMs ? ", replica cut off" : ""}: ${manual ? "planned failover" : "kill -9"} of the slot's master mid-batch`, { timeout: 300_000 }, async (t) => {
    const r = await runFailoverScenario({ name: `ha-cluster-${waitReplicas}-${lagMs}${manual ? "-manual" : ""}`, deployment, waitReplicas, lagMs, manual });
    try {
      t.diagnostic(describeResult(r, { waitReplicas, lagMs, manual }));
      if (r.lost.length) t.diagnostic(`lost: ${r.lost.slice(0, 20).join(", ")}`);
      if (r.duplicates.length) t.diagnostic(`sent twice: ${r.duplicates.slice(0, 20).join(", ")}`);

      // One slot, one master: every key the run left (jobs, BullMQ's lists, markers, configs).
      const byNode = await keysByNode(r.prefix);
      const all = [...byNode.values()].flat();
      assert.ok(all.length > r.acknowledged, `only ${all.length} keys found`);
      assert.equal(byNode.size, 1, `keys on ${byNode.size} masters: ${[...byNode.keys()].join(", ")}`);
      const slot = keySlot(r.prefix);
      assert.equal(await cluster.serverKeySlot(r.prefix), slot);
      assert.deepEqual(all.filter((k) => k.slot !== slot), [], "a key outside the prefix's slot");
      t.diagnostic(`${all.length} keys of ${r.prefix}, all in slot ${slot} on one master`);

      assert.deepEqual(r.errors, [], "a process logged an error");
      assert.deepEqual(r.unexpected, [], "the API answered something other than 202 or 503");
      const slowest = Math.max(...r.answers.map((a) => a.ms));
      assert.ok(slowest < 5000, `an API answer took ${slowest} ms`);
      assert.equal(r.acknowledged, 500);
      if (waitReplicas > 0) assert.deepEqual(r.lost, [], "an acknowledged email was lost");
      // CLUSTER FAILOVER is coordinated (the replica catches up before it takes over): nothing repeats.
      if (manual) assert.deepEqual(r.duplicates, [], "an email was sent twice");
      assert.ok(r.configSwitched, "a config PUT after the failover did not reach every worker within a second");
      assert.deepEqual(r.noise, [], "a process printed a stack trace or a non-JSON line");
    } finally {
      await r.stop();
    }
  });
}
