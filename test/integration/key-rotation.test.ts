// Master key rotation against the real Redis and a real SMTP server: configs sealed under key
// A are read and sent with by a process whose key is B with A in NOTIFY_MASTER_KEY_PREVIOUS;
// `POST /v1/admin/keys/rotate` (and `notify-smtp keys rotate`) reseals them under B with a
// compare-and-set, drops tokens cached under A, and can be interrupted and rerun; afterwards
// a process with only B reads everything. A config sealed under a key nobody has answers 409
// with what to do, never 500.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import type { AddressInfo } from "node:net";
import { createHarness, enqueue, passwordConfig, putConfig, uniquePrefix, waitForJobState, type Harness } from "../helpers/harness.ts";
import { startTestSmtpServer, type TestSmtpServer } from "../helpers/smtp-server.ts";
import { runCli } from "../helpers/cli.ts";
import { parseMasterKey } from "../../src/crypto/master-key.ts";
import { envelopeKeyId, seal } from "../../src/crypto/seal.ts";
import { SmtpConfigStore } from "../../src/smtp-config/store.ts";
import type { SmtpConfig } from "../../src/smtp-config/model.ts";
import { loadSettings } from "../../src/config.ts";
import type { RotationReport } from "../../src/key-rotation.ts";

const USER = "rotator";
const PASS = "rotation-s3cret-pass";
const KEY_A = randomBytes(32).toString("base64");
const KEY_B = randomBytes(32).toString("base64");
const KEY_C = randomBytes(32).toString("base64"); // nobody has this one
const prefix = uniquePrefix("rotate");
const incident = { incidentId: "7", title: "Rotation drill", state: "created", severity: "minor" };

let smtp: TestSmtpServer;
/** Current key B, previous A: the process during a rotation. */
let h: Harness;
let storeA: SmtpConfigStore;
let storeC: SmtpConfigStore;

const config = () => passwordConfig(smtp.port, USER, PASS);
/** The same config as the store keeps it (what a PUT would have stored). */
const stored = () => config() as unknown as SmtpConfig;
type ErrorBody = { error: { code: string; message: string } };

before(async () => {
  smtp = await startTestSmtpServer({ password: { user: USER, pass: PASS } });
  h = await createHarness("rotate", { env: { NOTIFY_PREFIX: prefix, NOTIFY_MASTER_KEY: KEY_B, NOTIFY_MASTER_KEY_PREVIOUS: `${KEY_A}, ${KEY_B}` } });
  storeA = new SmtpConfigStore(h.services.redis, h.services.keys, parseMasterKey(KEY_A, "A"));
  storeC = new SmtpConfigStore(h.services.redis, h.services.keys, parseMasterKey(KEY_C, "C"));
  // What a process running with key A stored before the change.
  for (const id of ["old-1", "old-2", "old-3", "old-4"]) await storeA.put(id, stored());
  await storeC.put("lost", stored());
  await storeC.put("lost-forever", stored());
});

after(async () => {
  await h.close();
  await smtp.close();
});

async function rawEnvelopes(): Promise<Record<string, string>> {
  return h.services.redis.hgetall(h.services.keys.smtpConfigs);
}

async function rotate(): Promise<RotationReport> {
  const res = await h.app.inject({ method: "POST", url: "/v1/admin/keys/rotate", headers: h.auth });
  assert.equal(res.statusCode, 200, res.body);
  return res.json() as RotationReport;
}

test("NOTIFY_MASTER_KEY_PREVIOUS: parsed, the current key is not listed twice, a bad entry is named", () => {
  const key = h.settings.masterKey;
  assert.equal(key.id, parseMasterKey(KEY_B, "B").id);
  assert.deepEqual(key.previous?.map((k) => k.id), [parseMasterKey(KEY_A, "A").id]);
  assert.throws(() => loadSettings({ NOTIFY_MASTER_KEY: KEY_B, NOTIFY_MASTER_KEY_PREVIOUS: `${KEY_A},short` }), /NOTIFY_MASTER_KEY_PREVIOUS \(key 2\) must be 32 random bytes/);
  assert.equal(loadSettings({ NOTIFY_MASTER_KEY: KEY_B, NOTIFY_MASTER_KEY_PREVIOUS: "" }).masterKey.previous, undefined);
});

test("during the rotation: a config sealed under the previous key reads (redacted), test-sends and is delivered by the worker", async () => {
  const got = await h.app.inject({ method: "GET", url: "/v1/projects/old-1/smtp-config", headers: h.auth });
  assert.equal(got.statusCode, 200, got.body);
  assert.equal((got.json() as { auth: { password: string } }).auth.password, "[redacted]");

  const tested = await h.app.inject({ method: "POST", url: "/v1/projects/old-2/smtp-config/test", headers: h.auth, payload: { to: "ops@example.com" } });
  assert.equal(tested.statusCode, 200, tested.body);

  const [id] = await enqueue(h, { type: "incident", projectId: "old-1", to: ["oncall@example.com"], data: incident });
  const job = await waitForJobState(h, id!, ["completed"]);
  assert.match(job.result?.response ?? "", /^250/);
  assert.ok(smtp.received.some((m) => m.to.includes("oncall@example.com") && m.user === USER));
});

test("a config sealed under a key nobody has: GET, test and a PUT without the secret answer 409 with the fix; the worker's reason says the same", async () => {
  const requests = [
    h.app.inject({ method: "GET", url: "/v1/projects/lost/smtp-config", headers: h.auth }),
    h.app.inject({ method: "POST", url: "/v1/projects/lost/smtp-config/test", headers: h.auth, payload: { to: "ops@example.com" } }),
    h.app.inject({ method: "PUT", url: "/v1/projects/lost/smtp-config", headers: h.auth, payload: { ...config(), auth: { type: "password", username: USER } } }),
    h.app.inject({ method: "PUT", url: "/v1/projects/lost/smtp-config", headers: h.auth, payload: { ...config(), auth: { type: "password", username: USER, password: "[redacted]" } } }),
  ];
  for (const res of await Promise.all(requests)) {
    assert.equal(res.statusCode, 409, res.body);
    const { error } = res.json() as ErrorBody;
    assert.equal(error.code, "sealed_with_unknown_key");
    assert.match(error.message, /sealed with master key [0-9a-f]{8}, which this process does not have/);
    assert.match(error.message, /NOTIFY_MASTER_KEY_PREVIOUS/);
    assert.match(error.message, /DELETE the config and PUT it again/);
    assert.ok(!res.body.includes(PASS));
  }
  assert.ok(!h.logs.some((line) => line.includes('"statusCode":500') || line.includes("request failed")), "no 500 was logged");

  const [id] = await enqueue(h, { type: "incident", projectId: "lost", to: ["nobody@example.com"], data: incident });
  const job = await waitForJobState(h, id!, ["failed"]);
  assert.match(job.failedReason ?? "", /^\[config\] sealed_config_unreadable: .*sealed with master key .*Hint: set NOTIFY_MASTER_KEY_PREVIOUS/);
});

test("a PUT that carries every secret replaces a config sealed under an unknown key", async () => {
  const res = await h.app.inject({ method: "PUT", url: "/v1/projects/lost/smtp-config", headers: h.auth, payload: config() });
  assert.equal(res.statusCode, 200, res.body);
  assert.equal(envelopeKeyId((await rawEnvelopes()).lost!), h.settings.masterKey.id);
  const got = await h.app.inject({ method: "GET", url: "/v1/projects/lost/smtp-config", headers: h.auth });
  assert.equal(got.statusCode, 200, got.body);
  // DELETE needs no key at all.
  await storeC.put("lost-delete-me", stored());
  const deleted = await h.app.inject({ method: "DELETE", url: "/v1/projects/lost-delete-me/smtp-config", headers: h.auth });
  assert.equal(deleted.statusCode, 204);
});

test("reseal is a compare-and-set: a PUT that lands between the read and the write is kept, not overwritten", async () => {
  const stale = (await rawEnvelopes())["old-4"]!;
  assert.equal(envelopeKeyId(stale), parseMasterKey(KEY_A, "A").id);
  await putConfig(h, "old-4", { ...config(), fromName: "Edited Meanwhile" });
  // The rotation read `stale` before the PUT; its write must not land.
  assert.equal(await h.services.store.reseal("old-4", stale), "current");
  const stored = await h.services.store.get("old-4");
  assert.equal(stored?.config.fromName, "Edited Meanwhile");
  assert.equal(stored?.version, 2);
});

test("rotate: interrupted after one config, then run, then run again: counts add up, tokens under the old key are dropped", async () => {
  const { keys, redis } = h.services;
  const keyA = parseMasterKey(KEY_A, "A");
  // A token cached by an A process, one cached under B since the change, and one sealed with C.
  await redis.set(keys.token("from-a"), seal(keyA, JSON.stringify({ token: "t-a", expiresAt: Date.now() + 600_000 }), "token:from-a"), "PX", 600_000);
  await redis.set(keys.token("from-b"), seal(h.settings.masterKey, JSON.stringify({ token: "t-b", expiresAt: Date.now() + 600_000 }), "token:from-b"), "PX", 600_000);
  await redis.set(keys.token("from-c"), seal(parseMasterKey(KEY_C, "C"), "{}", "token:from-c"), "PX", 600_000);

  // An earlier run was interrupted after resealing old-1.
  assert.equal(await h.services.store.reseal("old-1"), "resealed");

  const first = await rotate();
  assert.equal(first.keyId, h.settings.masterKey.id);
  // old-2, old-3 resealed now; old-1 (earlier run), old-4 and lost (PUT since) already current.
  assert.deepEqual(first.configs, { resealed: 2, current: 3, unreadable: 1, busy: 0, unreadableProjects: ["lost-forever"] });
  assert.deepEqual(first.tokens, { dropped: 2, current: 1 });
  assert.equal(await redis.exists(keys.token("from-a"), keys.token("from-c")), 0);
  assert.equal(await redis.exists(keys.token("from-b")), 1, "a token under the current key stays");

  const again = await rotate();
  assert.deepEqual(again.configs, { resealed: 0, current: 5, unreadable: 1, busy: 0, unreadableProjects: ["lost-forever"] });
  assert.deepEqual(again.tokens, { dropped: 0, current: 1 });

  const envelopes = await rawEnvelopes();
  for (const [projectId, envelope] of Object.entries(envelopes)) {
    assert.equal(envelopeKeyId(envelope), projectId === "lost-forever" ? parseMasterKey(KEY_C, "C").id : h.settings.masterKey.id, projectId);
  }
  const line = h.logs.find((l) => l.includes("master key rotation ran"));
  assert.ok(line && !line.includes(PASS));
});

test("notify-smtp keys rotate prints the counts, names the unreadable config and exits 1 until it is fixed", async () => {
  await h.app.listen({ port: 0, host: "127.0.0.1" });
  const env = { NOTIFY_API_URL: `http://127.0.0.1:${(h.app.server.address() as AddressInfo).port}`, NOTIFY_ADMIN_TOKEN: h.settings.adminToken };
  const blocked = await runCli(["keys", "rotate"], { env });
  assert.equal(blocked.code, 1, blocked.stderr);
  assert.match(blocked.stdout, /^configs: 0 resealed, 5 already current, 1 unreadable, 0 busy$/m);
  assert.match(blocked.stdout, /^tokens: 0 dropped \(sealed under an old key\), \d+ current$/m);
  assert.match(blocked.stderr, /^unreadable: lost-forever$/m);
  assert.match(blocked.stderr, /NOTIFY_MASTER_KEY_PREVIOUS/);

  const deleted = await h.app.inject({ method: "DELETE", url: "/v1/projects/lost-forever/smtp-config", headers: h.auth });
  assert.equal(deleted.statusCode, 204);
  const done = await runCli(["keys", "rotate"], { env });
  assert.equal(done.code, 0, done.stderr);
  assert.equal(done.stderr, "");
  assert.match(done.stdout, new RegExp(`every stored config is sealed with master key ${h.settings.masterKey.id}`));
});

test("after the rotation (and the unreadable one deleted) a process with only the new key reads and test-sends every config", async () => {
  const onlyB = await createHarness("rotate-b", { worker: false, env: { NOTIFY_PREFIX: prefix, NOTIFY_MASTER_KEY: KEY_B } });
  try {
    assert.equal(onlyB.settings.masterKey.previous, undefined);
    const ids = Object.keys(await rawEnvelopes()).sort();
    assert.deepEqual(ids, ["lost", "old-1", "old-2", "old-3", "old-4"]);
    for (const id of ids) {
      const got = await onlyB.app.inject({ method: "GET", url: `/v1/projects/${id}/smtp-config`, headers: onlyB.auth });
      assert.equal(got.statusCode, 200, `${id}: ${got.body}`);
    }
    const tested = await onlyB.app.inject({ method: "POST", url: "/v1/projects/old-3/smtp-config/test", headers: onlyB.auth, payload: { to: "ops@example.com" } });
    assert.equal(tested.statusCode, 200, tested.body);
  } finally {
    await onlyB.close();
  }
});
