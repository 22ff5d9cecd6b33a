// Redis Sentinel: 1 master, 1 replica, 3 sentinels, a password on every one of them, through
// redis+sentinel://. The same drill as the Cluster's: 500 emails, 2 worker processes and the
// API process, kill -9 of the master mid-batch: a plain kill, then with the replica cut off
// before it, without REDIS_WAIT_REPLICAS and with 1.
// - the API answers every request within 5 s, 202 or 503, during the failover;
// - with REDIS_WAIT_REPLICAS=1 no acknowledged email is lost, even with the replica cut off;
//   lost and duplicated counts of every run are reported (without it, a cut-off replica
//   costs lost emails and duplicates: jobs, completions and 250 markers die with the master);
// - a config PUT after the failover reaches both workers within a second (their subscriber
//   connections followed the master);
// - the password appears in no process's output.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startRedisSentinel, type RedisSentinel } from "../helpers/redis-sentinel.ts";
import { describeResult, runFailoverScenario, type Deployment } from "./failover-scenario.ts";

const PASSWORD = "sentinel-s3cret";
let sentinel: RedisSentinel;
let deployment: Deployment;

before(async () => {
  sentinel = await startRedisSentinel({ password: PASSWORD, replicas: 1, sentinels: 3, downAfterMs: 2000 });
  deployment = {
    url: sentinel.url,
    master: () => sentinel.master(),
    waitForPromotion: (_prefix, previous) => sentinel.waitForPromotion(previous),
    replicasOf: (master) => sentinel.replicasOf(master),
    cutOff: (replica) => sentinel.cutOff(replica),
    rejoin: (replica) => sentinel.rejoin(replica),
    manualFailover: (master) => sentinel.manualFailover(master),
    describe: () => sentinel.describe(),
    waitForReplica: (node) => sentinel.waitForReplica(node),
  };
});

after(async () => {
  await sentinel?.stop();
});

// A plain kill, the same with the replicas cut off 1.5 s before it (what WAIT is for), and a
// planned failover (maintenance: the master stays up and is demoted).
const CASES = [
  { waitReplicas: 0, lagMs: 0 },
  { waitReplicas: 0, lagMs: 1500 },
  { waitReplicas: 1, lagMs: 1500 },
  { waitReplicas: 1, lagMs: 0, manual: true },
];

for (const { waitReplicas, lagMs, manual } of CASES) {
  test(`Sentinel, REDIS_WAIT_REPLICAS=${waitReplicas}${lagMs ? ", replica cut off" : ""}: ${manual ? "planned failover" : "kill -9"} of the master mid-batch`, { timeout: 300_000 }, async (t) => {
    const r = await runFailoverScenario({ name: `ha-sentinel-${waitReplicas}-${lagMs}${manual ? "-manual" : ""}`, deployment, waitReplicas, lagMs, manual });
    try {
      t.diagnostic(describeResult(r, { waitReplicas, lagMs, manual }));
      if (r.lost.length) t.diagnostic(`lost: ${r.lost.slice(0, 20).join(", ")}`);
      if (r.duplicates.length) t.diagnostic(`sent twice: ${r.duplicates.slice(0, 20).join(", ")}`);
      assert.deepEqual(r.errors, [], "a process logged an error");
      assert.deepEqual(r.unexpected, [], "the API answered something other than 202 or 503");
      const slowest = Math.max(...r.answers.map((a) => a.ms));
      assert.ok(slowest < 5000, `an API answer took ${slowest} ms`);
      assert.equal(r.acknowledged, 500);
      if (waitReplicas > 0) assert.deepEqual(r.lost, [], "an acknowledged email was lost");
      // SENTINEL FAILOVER does not wait for the replica to catch up, so repeats are counted only.
      assert.ok(r.configSwitched, "a config PUT after the failover did not reach every worker within a second");
      assert.deepEqual(r.noise, [], "a process printed a stack trace or a non-JSON line");
      for (const child of r.children) {
        assert.ok(!child.stdout.join("\n").includes(PASSWORD), `${child.name} logged the Redis password`);
      }
      assert.ok(!r.harness.logs.join("\n").includes(PASSWORD), "the harness logged the Redis password");
    } finally {
      await r.stop();
    }
  });
}
