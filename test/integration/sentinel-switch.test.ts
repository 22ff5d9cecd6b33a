// The switch listener must never end a connection. A kill -9 of the master puts every
// connection into a sentinel lookup; `+switch-master` arriving during one used to cut it
// short, and ioredis then closed the connection for good ("Connection is closed", status
// "end"): a worker whose mailbox limiter failed every second until restarted. A sentinel
// that answers lookups slowly makes that moment last, so the race is certain here.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connectRedis } from "../../src/redis/connect.ts";
import { closeConnection } from "../../src/redis.ts";
import { startSlowSentinel } from "../helpers/peers/sentinel.ts";
import { eventually, REDIS_URL } from "../helpers/harness.ts";

const master = new URL(REDIS_URL);
const masterAddress = { host: master.hostname, port: Number(master.port || 6379) };

test("+switch-master during a sentinel lookup: the connection finishes it and stays usable", { timeout: 20_000 }, async (t) => {
  const sentinel = await startSlowSentinel({ master: masterAddress, lookupDelayMs: 400 });
  const redis = connectRedis(`redis+sentinel://127.0.0.1:${sentinel.port}/notify-test-master`, { maxRetriesPerRequest: null, connectionName: "notify-test-switch" });
  t.after(async () => {
    await closeConnection(redis);
    await sentinel.close();
  });
  assert.equal(await redis.ping(), "PONG");

  // As after a dead master: the connection drops and reconnects through the sentinel.
  const lookupsBefore = sentinel.lookups;
  redis.disconnect(true);
  await eventually(() => (sentinel.lookupsInFlight > 0 ? true : undefined), 5_000, "a lookup in flight");
  assert.equal(redis.status, "connecting");
  sentinel.announceSwitch("notify-test-master", "127.0.0.1:1", `${masterAddress.host}:${masterAddress.port}`);

  // A command sent meanwhile waits for the lookup and is answered; the connection is not ended.
  assert.equal(await redis.ping(), "PONG");
  assert.equal(redis.status, "ready");
  assert.ok(sentinel.lookups > lookupsBefore);
});

test("+switch-master to a master the connection is not on: it and its duplicates (BullMQ's blocking connection) reconnect and ask again", { timeout: 20_000 }, async (t) => {
  const sentinel = await startSlowSentinel({ master: masterAddress, lookupDelayMs: 50 });
  const redis = connectRedis(`redis+sentinel://127.0.0.1:${sentinel.port}/notify-test-master`, { maxRetriesPerRequest: null, connectionName: "notify-test-switch" });
  const blocking = redis.duplicate({ connectionName: "notify-test-switch-dup" });
  blocking.on("error", () => {}); // BullMQ listens on its own duplicates
  t.after(async () => {
    await Promise.all([closeConnection(redis), closeConnection(blocking)]);
    await sentinel.close();
  });
  assert.equal(await redis.ping(), "PONG");
  assert.equal(await blocking.ping(), "PONG");
  const lookupsBefore = sentinel.lookups;
  sentinel.announceSwitch("notify-test-master", `${masterAddress.host}:${masterAddress.port}`, "127.0.0.1:2");
  await eventually(() => (sentinel.lookups >= lookupsBefore + 2 ? true : undefined), 5_000, "a new lookup by each connection");
  assert.equal(await redis.ping(), "PONG");
  assert.equal(await blocking.ping(), "PONG");
  // Another master's name is ignored.
  const lookupsAfter = sentinel.lookups;
  sentinel.announceSwitch("someone-else", "127.0.0.1:2", "127.0.0.1:3");
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal(sentinel.lookups, lookupsAfter);
});
