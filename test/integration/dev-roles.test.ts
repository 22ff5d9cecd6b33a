// The development roles as a newcomer runs them, as real processes in a fresh directory:
// `.env` is read at start (the real environment wins), every role prints the development admin
// token and keeps it in .data/admin.token across restarts, and `npm run worker` without
// DEFAULT_SMTP_URL either sends to the dev inbox of a running `npm run api` or warns once.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { REDIS_URL, deleteKeys, eventually, uniquePrefix } from "../helpers/harness.ts";
import { spawnChildWorker, type ChildWorker } from "../helpers/child-worker.ts";
import { createKeys } from "../../src/keys.ts";

const prefix = uniquePrefix("dev-roles");
const redis = new Redis(REDIS_URL);
const children: ChildWorker[] = [];
let dir: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), "notify-dev-roles-"));
  // What a developer puts in .env; PORT is overridden by the real environment below.
  writeFileSync(join(dir, ".env"), [`REDIS_URL=${REDIS_URL}`, `NOTIFY_PREFIX=${prefix}`, "PORT=1", "LOG_LEVEL=info", "JOB_BACKOFF_MS=100"].join("\n") + "\n");
});

after(async () => {
  await Promise.all(children.map((c) => c.kill("SIGKILL")));
  await deleteKeys(redis, prefix);
  redis.disconnect();
  rmSync(dir, { recursive: true, force: true });
});

/** A role in `dir` with a clean development environment: only PATH, HOME and what is given. */
function role(script: string, name: string, env: Record<string, string> = {}): ChildWorker {
  const child = spawnChildWorker({ script, name, cwd: dir, env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...env } });
  children.push(child);
  return child;
}

const tokenLine = (c: ChildWorker) => c.stdout.find((l) => /^\s*Admin token\s/.test(l));

async function stop(c: ChildWorker): Promise<void> {
  c.signal("SIGTERM");
  assert.deepEqual(await c.waitForExit(30_000), { code: 0, signal: null }, c.describe());
}

test("a worker alone: .env read, token printed and kept, one plain warning that nothing will be delivered", async () => {
  const worker = role("workers/email-worker.ts", "lonely-worker");
  await worker.waitForReady(60_000);
  const connected = await worker.waitForLog((l) => l.msg === "connected to Redis");
  assert.equal(connected.prefix, prefix, "NOTIFY_PREFIX came from .env");
  const env = await worker.waitForLog((l) => l.msg === "read .env");
  assert.equal(env.applied, 5);
  assert.deepEqual(env.environmentWins, []);
  assert.ok(!JSON.stringify(env).includes(REDIS_URL), "names and counts only, never values");

  const token = readFileSync(join(dir, ".data", "admin.token"), "utf8").trim();
  assert.ok(token.length >= 16);
  assert.match(tokenLine(worker) ?? "", new RegExp(`^Admin token\\s+${token}\\s+\\(new; kept in .*admin\\.token`));
  assert.ok(!worker.logs().some((l) => JSON.stringify(l).includes(token)), "the token is printed, never logged");

  const warnings = worker.logs().filter((l) => l.level === 40 && /nothing will be delivered/.test(String(l.msg)));
  assert.equal(warnings.length, 1, worker.describe());
  assert.match(String(warnings[0]!.msg), /DEFAULT_SMTP_URL is not set and no dev inbox is running/);
  assert.match(String(warnings[0]!.msg), /npm run api/);
  await stop(worker);
});

test("npm run api runs the dev inbox and workers started after it deliver there; the token survives restarts", async () => {
  const token = readFileSync(join(dir, ".data", "admin.token"), "utf8").trim();
  // PORT=0 from the real environment wins over PORT=1 in .env.
  const api = role("workers/api.ts", "api", { PORT: "0" });
  await api.waitForLog((l) => l.msg === "API listening", 60_000);
  assert.deepEqual((await api.waitForLog((l) => l.msg === "read .env")).environmentWins, ["PORT"]);
  await eventually(() => tokenLine(api), 5000, "the banner");
  assert.match(tokenLine(api)!, new RegExp(`^\\s*Admin token\\s+${token}\\s+\\(from .*admin\\.token\\)`), "the same token as before");
  const base = /API\s+(http:\/\/127\.0\.0\.1:\d+)\/v1/.exec(api.stdout.join("\n"))?.[1];
  assert.ok(base && !base.endsWith(":1") && !base.endsWith(":0"), api.describe());
  const smtpUrl = await redis.get(createKeys(prefix).devInbox);
  assert.match(smtpUrl ?? "", /^smtp:\/\/127\.0\.0\.1:\d+$/);

  const worker = role("workers/email-worker.ts", "worker-after-api");
  await worker.waitForReady(60_000);
  const using = worker.logs().find((l) => /sending to the dev inbox/.test(String(l.msg)));
  assert.equal(using?.smtp, smtpUrl, worker.describe());
  assert.ok(!worker.logs().some((l) => /nothing will be delivered/.test(String(l.msg))));

  const headers = { authorization: `Bearer ${token}`, "content-type": "application/json" };
  const res = await fetch(`${base}/v1/emails`, {
    method: "POST",
    headers,
    body: JSON.stringify({ type: "incident", projectId: "newcomer", to: ["you@example.com"], data: { incidentId: "1", title: "Hello inbox", state: "created", severity: "minor" } }),
  });
  assert.equal(res.status, 202, await res.clone().text());
  const inbox = await eventually(async () => {
    const list = (await (await fetch(`${base}/dev/inbox?format=json`)).json()) as { messages: { to: string[]; subject: string }[] };
    return list.messages.find((m) => m.subject.includes("Hello inbox"));
  }, 30_000, "the email in the API's dev inbox");
  assert.deepEqual(inbox.to, ["you@example.com"]);
  const sent = await worker.waitForLog((l) => l.msg === "sent");
  assert.deepEqual([sent.level, sent.projectId, sent.type, typeof sent.durationMs], [30, "newcomer", "incident", "number"]);
  assert.ok(!JSON.stringify(sent).includes("you@example.com"), "no address in the info line");

  await stop(worker);
  await stop(api);
  assert.equal(await redis.get(createKeys(prefix).devInbox), null, "the API removed its inbox on the way out");

  const again = role("workers/api.ts", "api-again", { PORT: "0" });
  await again.waitForLog((l) => l.msg === "API listening", 60_000);
  await eventually(() => tokenLine(again), 5000, "the banner");
  assert.match(tokenLine(again)!, new RegExp(`Admin token\\s+${token}\\s`));
  await stop(again);
});
