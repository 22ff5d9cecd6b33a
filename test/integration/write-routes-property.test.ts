// Property-based (fast-check) over the write routes: PUT …/smtp-config, POST /v1/emails and
// POST …/smtp-config/test. For arbitrary JSON bodies, and for near-valid bodies with arbitrary
// values in their fields (hosts, token URLs, key files, addresses), the API never answers 5xx,
// and a rejected body leaves Redis exactly as it was (every key and value under the prefix).
// Production mode (private targets refused), so the address and URL checks run too; no worker,
// so nothing is sent.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import fc from "fast-check";
import { createHarness, eventually, type Harness } from "../helpers/harness.ts";
import { dumpPrefix } from "../helpers/redis-dump.ts";

/** Runs per route: enough to find the 5xx this test was written against, quick on 2 cores. */
const RUNS = 150;

let h: Harness;
const pem = (bits: number) => generateKeyPairSync("rsa", { modulusLength: bits }).privateKey.export({ type: "pkcs8", format: "pem" }).toString();
const GOOD_PEM = pem(2048);
const SHORT_PEM = pem(512);

before(async () => {
  h = await createHarness("write-routes-property", { worker: false, env: { NOTIFY_ALLOW_PRIVATE_TARGETS: "false" } });
  // A project whose test-send is refused before any connection (its host is loopback).
  await h.services.store.put("tested", { host: "127.0.0.1", port: 25, secure: true, fromEmail: "a@example.com" });
  // BullMQ writes the queue's meta key once, shortly after start: not a change made by a request.
  const meta = `${h.settings.prefix}:emails:meta`;
  await eventually(async () => ((await h.services.redis.exists(meta)) ? true : undefined), 5000, "the queue's meta key");
});

after(async () => {
  await h?.close();
});

// ---- generators --------------------------------------------------------------------------

/** Any value a field could hold, valid or not. */
const anyValue = fc.oneof(fc.string({ maxLength: 300 }), fc.jsonValue({ maxDepth: 2 }), fc.integer(), fc.constant(null));
/** Mostly the valid shape, sometimes anything at all. */
const mostly = <T>(valid: fc.Arbitrary<T>) => fc.oneof({ weight: 3, arbitrary: valid }, { weight: 1, arbitrary: anyValue });

const host = fc.oneof(
  fc.constantFrom("smtp.example.invalid", "localhost", "[::1]", "::ffff:7f00:1", "64:ff9b::7f00:1", "2002:7f00:1::", "fec0::1", "192.0.2.1", "8.8.8.8", "2606:4700::1111"),
  fc.ipV4(),
  fc.ipV6(),
  fc.stringMatching(/^[a-z0-9.:[\]-]{1,30}$/),
);
const tokenUrl = fc.oneof(
  fc.constantFrom("https://8.8.8.8/token", "https://[2606:4700::1111]/t", "http://8.8.8.8/token", "https://127.0.0.1/t", "https://[::ffff:7f00:1]/t", "https://[", "http://[::1", "https://a b/", "https://%zz/", "ftp://x/"),
  fc.ipV4().map((ip) => `https://${ip}/token`),
  fc.stringMatching(/^https?:\/\/[^\s]{1,40}$/),
);
const keyFile = fc.record({
  type: mostly(fc.constant("service_account")),
  client_email: mostly(fc.emailAddress()),
  private_key: fc.oneof(fc.constant(GOOD_PEM), fc.constant(SHORT_PEM), fc.string()),
  token_uri: fc.oneof(tokenUrl, anyValue),
}, { requiredKeys: [] }).map((file) => JSON.stringify(file));
const clientSecret = fc.oneof(fc.string({ maxLength: 100 }), fc.constant(GOOD_PEM), fc.constant(SHORT_PEM), keyFile, fc.constantFrom("[redacted]", "", "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----"));

/** Valid values, so that a body with a few fields overridden gets past the schema. */
const validAuth = fc.oneof(
  fc.record({ type: fc.constant("password"), username: fc.constantFrom("u", "mailer@example.com"), password: fc.string({ minLength: 1, maxLength: 40 }) }),
  fc.record({
    type: fc.constant("oauth"), clientId: fc.constantFrom("app", "mailer@proj.iam.gserviceaccount.test"),
    clientSecret, tokenUrl: fc.constantFrom("https://8.8.8.8/token", "https://[2606:4700::1111]/t"), scope: fc.constantFrom("s", "https://mail.google.com/"),
  }),
);
const validConfig = fc.record({
  host: fc.oneof({ weight: 3, arbitrary: fc.constantFrom("8.8.8.8", "2606:4700::1111", "smtp.example.invalid") }, { weight: 1, arbitrary: host }),
  port: fc.constantFrom(25, 465, 587),
  secure: fc.boolean(),
  fromEmail: fc.constantFrom("a@example.com", "status@acme.test"),
  auth: validAuth,
});

/** Dotted field paths a mutation may replace, and what with: a hostile value of the field's kind, or anything. */
const mutation = fc.oneof(
  fc.tuple(fc.constant("host"), host),
  fc.tuple(fc.constant("auth.tokenUrl"), tokenUrl),
  fc.tuple(fc.constant("auth.clientSecret"), clientSecret),
  fc.tuple(
    fc.constantFrom("host", "port", "secure", "fromEmail", "fromName", "replyTo", "allowInsecureAuth", "auth", "auth.type", "auth.username", "auth.password",
      "auth.clientId", "auth.clientSecret", "auth.tokenUrl", "auth.scope", "auth.user", "auth.grant", "auth.tokenEndpointAuth", "extra"),
    fc.oneof(anyValue, fc.constant(undefined)),
  ),
);

/** `value` with each [path, replacement] applied (undefined deletes the field). */
function mutate(value: Record<string, unknown>, mutations: [string, unknown][]): Record<string, unknown> {
  const out = structuredClone(value);
  for (const [path, replacement] of mutations) {
    const parts = path.split(".");
    let target: Record<string, unknown> = out;
    for (const part of parts.slice(0, -1)) {
      const next = target[part];
      if (!next || typeof next !== "object" || Array.isArray(next)) target[part] = {};
      target = target[part] as Record<string, unknown>;
    }
    const last = parts.at(-1)!;
    if (replacement === undefined) delete target[last];
    else target[last] = replacement;
  }
  return out;
}

const smtpConfig = fc.tuple(validConfig, fc.array(mutation, { maxLength: 2 })).map(([config, mutations]) => mutate(config, mutations));

/** Two ids often (so a PUT meets a stored config: kept secrets, secret_required), and any string. */
const projectId = fc.oneof({ weight: 4, arbitrary: fc.constantFrom("p1", "p2") }, { weight: 1, arbitrary: fc.string({ minLength: 1, maxLength: 80 }).map((id) => `p${id}`) });

const email = fc.oneof(fc.constantFrom("ops@example.com", "a@b.co"), fc.emailAddress(), fc.string({ maxLength: 60 }));
const recipients = fc.array(fc.constantFrom("ops@example.com", "b@example.com"), { minLength: 1, maxLength: 3 });
const validEmailRequest = fc.oneof(
  fc.record({
    type: fc.constant("incident"), projectId: fc.constantFrom("p1", "p2"), to: recipients,
    data: fc.record({ incidentId: fc.string({ minLength: 1, maxLength: 20 }), title: fc.string({ minLength: 1, maxLength: 50 }), state: fc.constantFrom("created", "acknowledged", "resolved"), severity: fc.constantFrom("minor", "major") }),
  }),
  fc.record({
    type: fc.constant("alert"), projectId: fc.constantFrom("p1", "p2"), to: recipients,
    data: fc.record({ alertId: fc.string({ minLength: 1, maxLength: 20 }), title: fc.string({ minLength: 1, maxLength: 50 }), state: fc.constantFrom("created", "resolved"), severity: fc.constantFrom("high", "low") }),
  }),
);
const emailMutation = fc.tuple(
  fc.constantFrom("type", "projectId", "to", "idempotencyKey", "data", "data.title", "data.state", "data.description", "data.url", "data.monitors", "data.extra", "extra"),
  fc.oneof(anyValue, fc.constant(undefined), fc.array(email, { maxLength: 3 })),
);
const emailRequest = fc.tuple(validEmailRequest, fc.array(emailMutation, { maxLength: 2 })).map(([request, mutations]) => mutate(request, mutations));

/** A body as sent: a JSON value, or (sometimes) text that is not JSON at all. */
const body = <T>(shaped: fc.Arbitrary<T>) =>
  fc.oneof(
    { weight: 3, arbitrary: shaped.map((v) => JSON.stringify(v) ?? "null") },
    { weight: 1, arbitrary: fc.jsonValue().map((v) => JSON.stringify(v) ?? "null") },
    { weight: 1, arbitrary: fc.string({ maxLength: 50 }) },
  );

// ---- the property --------------------------------------------------------------------------

interface Seen { status: Map<number, number> }

/**
 * Every key and value under the prefix in a stable order: SCAN, HGETALL and SMEMBERS answer
 * in hash-table order, which changes as a hash or set grows.
 */
async function snapshot(): Promise<string> {
  const lines = (await dumpPrefix(h.services.redis, h.settings.prefix)).text.split("\n").filter(Boolean);
  return lines.map((line) => {
    const space = line.indexOf(" ");
    return `${line.slice(0, space)} ${JSON.stringify(canonical(JSON.parse(line.slice(space + 1))))}`;
  }).sort().join("\n");
}

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical).map((v) => JSON.stringify(v)).sort();
  if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => [k, canonical(v)]));
  return value;
}

/** Sends `payload`; fails on a 5xx, and on any change to Redis unless the answer was a success. */
async function check(seen: Seen, method: "PUT" | "POST", url: string, payload: string): Promise<void> {
  const before = await snapshot();
  const res = await h.app.inject({ method, url, headers: { ...h.auth, "content-type": "application/json" }, payload });
  seen.status.set(res.statusCode, (seen.status.get(res.statusCode) ?? 0) + 1);
  assert.ok(res.statusCode < 500, `${method} ${url} ${payload.slice(0, 300)} → ${res.statusCode} ${res.body.slice(0, 300)}`);
  if (res.statusCode >= 300) {
    assert.equal(await snapshot(), before, `${method} ${url} answered ${res.statusCode} but changed Redis`);
  }
}

async function runProperty(name: string, arbitrary: fc.Arbitrary<[string, string]>, method: "PUT" | "POST"): Promise<Seen> {
  const seen: Seen = { status: new Map() };
  await fc.assert(fc.asyncProperty(arbitrary, ([url, payload]) => check(seen, method, url, payload)), { numRuns: RUNS, includeErrorInReport: true, seed: process.env.FC_SEED ? Number(process.env.FC_SEED) : undefined });
  h.log.info({ property: name, statuses: Object.fromEntries(seen.status) }, "property run");
  return seen;
}

const path = (id: string, suffix = "") => `/v1/projects/${encodeURIComponent(id)}/smtp-config${suffix}`;

test("PUT smtp-config: never a 5xx; a refused config stores nothing", async () => {
  const seen = await runProperty("put", fc.tuple(projectId.map((id) => path(id)), body(smtpConfig)), "PUT");
  assert.ok((seen.status.get(400) ?? 0) > RUNS / 4, "most bodies are refused (the generator reaches validation)");
  assert.ok((seen.status.get(200) ?? 0) > 0, `some bodies are accepted (the generator reaches past validation): ${JSON.stringify([...seen.status])}`);
});

test("POST /v1/emails: never a 5xx; a refused request enqueues nothing", async () => {
  const seen = await runProperty("emails", fc.tuple(fc.constant("/v1/emails"), body(emailRequest)), "POST");
  assert.ok((seen.status.get(400) ?? 0) > RUNS / 4);
});

test("POST smtp-config/test with bad bodies: never a 5xx; nothing stored", async () => {
  const testBody = fc.record({ to: email, extra: anyValue }, { requiredKeys: [] });
  // Only projects whose test-send cannot leave the machine: "tested" (loopback, refused before
  // connecting) and ids without a config (404); the PUT property stores p… ids with public hosts.
  const testedId = fc.oneof({ weight: 3, arbitrary: fc.constantFrom("tested", "no-config") }, { weight: 1, arbitrary: fc.string({ minLength: 1, maxLength: 80 }).map((id) => `x${id}`) });
  const seen = await runProperty("test-send", fc.tuple(testedId.map((id) => path(id, "/test")), body(testBody)), "POST");
  assert.ok((seen.status.get(400) ?? 0) > 0);
});
