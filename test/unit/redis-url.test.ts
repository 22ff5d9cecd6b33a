// REDIS_URL in every form: what it connects to, what is refused (one line, password masked),
// and what a log line shows of it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { parseRedisUrl, redactUrl, RedisUrlError } from "../../src/redis/url.ts";
import { keySlot } from "../../src/redis/connect.ts";
import { loadSettings, ConfigError } from "../../src/config.ts";
import { createKeys } from "../../src/keys.ts";
import { ensureRedis, RedisUnavailableError } from "../../src/redis.ts";
import { createLogger } from "../../src/log.ts";
import { freePort } from "../helpers/smtp-server.ts";

const SECRET = "pa:ss@w/rd";
const enc = encodeURIComponent(SECRET);

test("redis:// and rediss://: host, port, ACL user, password, database", () => {
  assert.deepEqual(parseRedisUrl("redis://127.0.0.1:6379"), { topology: "standalone", tls: false, hosts: [{ host: "127.0.0.1", port: 6379 }] });
  assert.deepEqual(parseRedisUrl("redis://cache"), { topology: "standalone", tls: false, hosts: [{ host: "cache", port: 6379 }] });
  const acl = parseRedisUrl(`rediss://notify:${enc}@redis.example.com:6380/2`);
  assert.deepEqual(acl, { topology: "standalone", tls: true, hosts: [{ host: "redis.example.com", port: 6380 }], username: "notify", password: SECRET, db: 2 });
  // The classic forms: a password alone, with or without the colon.
  assert.equal(parseRedisUrl("redis://:pw@h").password, "pw");
  assert.equal(parseRedisUrl("redis://:pw@h").username, undefined);
  assert.equal(parseRedisUrl("redis://pw@h").password, "pw");
  assert.deepEqual(parseRedisUrl("redis://[::1]:7000").hosts, [{ host: "::1", port: 7000 }]);
  assert.equal(parseRedisUrl("rediss://10.0.0.5:6380?servername=redis.internal").servername, "redis.internal");
  assert.equal(parseRedisUrl("redis://h?family=6").family, 6);
});

test("redis+sentinel://: sentinels (default port 26379), master name, one password for all unless split", () => {
  const t = parseRedisUrl(`redis+sentinel://:${enc}@s1:26379,s2,s3:26380/mymaster`);
  assert.deepEqual(t, {
    topology: "sentinel", tls: false, password: SECRET, masterName: "mymaster",
    hosts: [{ host: "s1", port: 26379 }, { host: "s2", port: 26379 }, { host: "s3", port: 26380 }],
  });
  assert.equal(parseRedisUrl("redis+sentinel://s1/mymaster/3").db, 3);
  const split = parseRedisUrl("rediss+sentinel://app:pw@s1,s2/m?sentinelPassword=other&sentinelUsername=sent");
  assert.equal(split.tls, true);
  assert.equal(split.username, "app");
  assert.equal(split.sentinelUsername, "sent");
  assert.equal(split.sentinelPassword, "other");
  assert.equal(parseRedisUrl("redis+sentinel://:pw@s1/m?sentinelPassword=").sentinelPassword, "", "an empty sentinelPassword means: sentinels without a password");
});

test("redis+cluster://: seed nodes, ACL user, TLS", () => {
  const t = parseRedisUrl(`rediss+cluster://notify:${enc}@n1:7000,n2:7001,n3`);
  assert.deepEqual(t, {
    topology: "cluster", tls: true, username: "notify", password: SECRET,
    hosts: [{ host: "n1", port: 7000 }, { host: "n2", port: 7001 }, { host: "n3", port: 6379 }],
  });
  assert.equal(parseRedisUrl("REDIS+CLUSTER://n1:7000").topology, "cluster");
});

test("what is refused says why in one line, and never shows the password", () => {
  const refused: [string, RegExp][] = [
    [`http://u:${enc}@h`, /must be one of redis:\/\/, rediss:\/\//],
    [`redis://u:${enc}@h1,h2`, /several hosts: use redis\+sentinel:\/\/ or redis\+cluster:\/\//],
    [`redis+sentinel://:${enc}@s1,s2`, /needs the master's name/],
    [`redis+cluster://:${enc}@n1/2`, /a Cluster only has database 0/],
    [`redis://:${enc}@h:99999`, /port out of range/],
    [`redis://:${enc}@h/db`, /not a database number/],
    [`redis://:${enc}@h?servername=x`, /servername without TLS/],
    [`redis://:${enc}@h?sentinelPassword=x`, /only a redis\+sentinel:\/\/ URL takes/],
    [`redis://:${enc}@h?timeout=1`, /unknown parameter "timeout"/],
    [`redis+cluster://:${enc}@`, /names no host/],
    [`redis://:${enc}@h%zz`, /host that is not host\[:port\]/],
    [`redis://:%zz${enc}@h`, /malformed percent-escape/],
  ];
  for (const [url, why] of refused) {
    assert.throws(() => parseRedisUrl(url), (err: unknown) => {
      assert.ok(err instanceof RedisUrlError, `${url}: ${String(err)}`);
      assert.match(err.message, why, url);
      assert.match(err.message, /^REDIS_URL /);
      assert.ok(!err.message.includes("\n"), "one line");
      for (const shown of [SECRET, enc, "ss@w", "p/ss"]) assert.ok(!err.message.includes(shown), `${url}: the password shows in "${err.message}"`);
      return true;
    });
  }
});

test("redactUrl masks every password of every form", () => {
  assert.equal(redactUrl(`redis://notify:${enc}@h:6379/1`), "redis://notify:***@h:6379/1");
  assert.equal(redactUrl("redis://:pw@h"), "redis://:***@h");
  assert.equal(redactUrl("redis://pw@h"), "redis://***@h");
  assert.equal(redactUrl("redis://h:6379"), "redis://h:6379");
  assert.equal(redactUrl(`rediss+sentinel://app:${enc}@s1:26379,s2:26379/mymaster?sentinelPassword=${enc}&sentinelUsername=s`),
    "rediss+sentinel://app:***@s1:26379,s2:26379/mymaster?sentinelPassword=***&sentinelUsername=s");
  assert.equal(redactUrl(`redis+cluster://notify:${enc}@n1:7000,n2:7001`), "redis+cluster://notify:***@n1:7000,n2:7001");
  // "@" or "/" inside an unencoded password: everything up to the last "@" is masked.
  assert.equal(redactUrl("redis://u:p@ss@h"), "redis://u:***@h");
  assert.equal(redactUrl("redis://u:p/s@h/2"), "redis://u:***@h/2");
  assert.equal(parseRedisUrl("redis://u:p/s@h/2").password, "p/s");
  assert.equal(redactUrl("not a url"), "(unparseable URL)");
});

test("config: REDIS_URL validated as a setting; a Cluster needs a hash-tag prefix; REDIS_WAIT_REPLICAS", () => {
  const key = randomBytes(32).toString("base64");
  const base = { NOTIFY_MASTER_KEY: key, NOTIFY_ADMIN_TOKEN: "t".repeat(32) };
  const s = loadSettings({ ...base, REDIS_URL: "redis+cluster://:pw@n1:7000,n2:7001", REDIS_WAIT_REPLICAS: "1" });
  assert.equal(s.redisUrl, "redis+cluster://:pw@n1:7000,n2:7001");
  assert.equal(s.redisWaitReplicas, 1);
  assert.equal(loadSettings(base).redisWaitReplicas, 0);
  assert.throws(() => loadSettings({ ...base, REDIS_URL: "redis+sentinel://:hunter2@s1" }), (err: unknown) =>
    err instanceof ConfigError && /master's name/.test(err.message) && !err.message.includes("hunter2"));
  assert.throws(() => loadSettings({ ...base, REDIS_URL: "redis+cluster://n1", NOTIFY_PREFIX: "notify" }), /NOTIFY_PREFIX must contain a hash tag/);
  assert.throws(() => loadSettings({ ...base, REDIS_URL: "redis+cluster://n1", NOTIFY_PREFIX: "a{}{b}" }), /hash tag/, "Redis takes the first {…}, which is empty here");
  assert.equal(loadSettings({ ...base, REDIS_URL: "redis+cluster://n1", NOTIFY_PREFIX: "{acme}" }).prefix, "{acme}");
  assert.throws(() => loadSettings({ ...base, REDIS_WAIT_REPLICAS: "-1" }), /REDIS_WAIT_REPLICAS must be a whole number/);
});

test("every key and channel of a deployment is in the slot of its hash tag", () => {
  // Known values (CLUSTER KEYSLOT): the HA tests check the live server agrees.
  assert.equal(keySlot("foo"), 12182);
  assert.equal(keySlot("{notify}"), keySlot("notify"));
  const keys = createKeys("{notify}");
  const slot = keySlot("notify");
  for (const name of [keys.smtpConfigs, keys.smtpConfigChanged, keys.sent("j"), keys.token("t"), keys.tokenLock("t"), keys.tokenError("t"), keys.tokenIndex("p"), `${keys.bullPrefix}:emails:wait`]) {
    assert.equal(keySlot(name), slot, name);
  }
});

test("the development fallback (a spawned redis-server) stands in only for a plain redis:// URL", async () => {
  const port = await freePort();
  const log = createLogger({ level: "silent" });
  for (const url of [`rediss://:hunter2@127.0.0.1:${port}`, `redis+sentinel://:hunter2@127.0.0.1:${port}/m`, `redis+cluster://:hunter2@127.0.0.1:${port}`]) {
    await assert.rejects(ensureRedis({ url, urlExplicit: false, production: false, log }), (err: unknown) => {
      assert.ok(err instanceof RedisUnavailableError, `${url}: ${String(err)}`);
      assert.match(err.message, /^Redis does not answer at .*:\*\*\*@127\.0\.0\.1/);
      assert.ok(!err.message.includes("hunter2"));
      return true;
    });
  }
});
