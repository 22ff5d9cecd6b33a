// SMTP servers that hang up (FIN or TCP reset) at every stage of a session, against test-send,
// PUT ?verify=true, the worker's pooled path, and a real production-mode process: nothing
// crashes, the event loop never stalls 100 ms, /healthz answers in under 200 ms throughout,
// and each answer names the stage the server hung up in.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { createHarness, deleteKeys, enqueue, putConfig, uniquePrefix, waitForJobState, type Harness } from "../helpers/harness.ts";
import { startHostileSmtp, type HostileSmtpOptions, type HostileSmtpServer, type SmtpStage } from "../helpers/peers/smtp.ts";
import { assertLively, watchLiveness } from "../helpers/liveness.ts";
import { childWorkerEnv, spawnChildWorker, writeTestCaFile, type CaFile, type ChildWorker } from "../helpers/child-worker.ts";
import { freePort } from "../helpers/smtp-server.ts";

const PASS = `hangup-pass-${randomBytes(6).toString("hex")}`;
let h: Harness;
const peers: HostileSmtpServer[] = [];
const bodies: string[] = [];

before(async () => {
  h = await createHarness("hostile-smtp", { env: { SEND_TIMEOUT_MS: "4000", JOB_ATTEMPTS: "2" } });
});

after(async () => {
  await h.close();
  for (const p of peers) await p.close();
});

async function peer(options: HostileSmtpOptions): Promise<HostileSmtpServer> {
  const p = await startHostileSmtp(options);
  peers.push(p);
  return p;
}

/** A password config for a raw peer: plaintext (allowInsecureAuth) or STARTTLS with the test CA. */
function config(p: HostileSmtpServer, tls = false): Record<string, unknown> {
  return {
    host: tls ? "localhost" : p.host, port: p.port, secure: tls, ...(tls ? {} : { allowInsecureAuth: true }),
    fromEmail: "status@acme.test", fromName: "Acme Status", auth: { type: "password", username: "mailer", password: PASS },
  };
}

interface Outcome {
  ok: boolean;
  stage?: string;
  code?: string;
  message?: string;
  hint?: string;
  timingsMs: Record<string, number>;
}

async function testSend(projectId: string): Promise<{ status: number; body: Outcome }> {
  const res = await h.app.inject({ method: "POST", url: `/v1/projects/${projectId}/smtp-config/test`, headers: h.auth, payload: { to: "ops@example.com" } });
  bodies.push(res.body);
  return { status: res.statusCode, body: res.json() as Outcome };
}

/** Where a hang-up at each stage is reported, and with which code per way of hanging up. */
const STAGES: { at: SmtpStage; stage: string }[] = [
  { at: "greeting", stage: "connect" },
  { at: "EHLO", stage: "connect" },
  { at: "AUTH", stage: "auth" },
  { at: "MAIL", stage: "send" },
  { at: "RCPT", stage: "send" },
  { at: "DATA", stage: "send" },
  { at: "MESSAGE", stage: "send" },
];
const HANG_UPS = [
  { how: "hangUp", code: "ECONNECTION" },
  { how: "reset", code: "ECONNRESET" },
] as const;

test("test-send: a server that hangs up or resets at each stage gets a 422 naming that stage; the process lives and stays responsive", async () => {
  const live = watchLiveness(h.app);
  const seen: string[] = [];
  for (const { at, stage } of STAGES) {
    for (const { how, code } of HANG_UPS) {
      const p = await peer({ script: { [at]: { do: how } } });
      const projectId = `hang-${at.toLowerCase()}-${how.toLowerCase()}`;
      await putConfig(h, projectId, config(p));
      const { status, body } = await testSend(projectId);
      assert.equal(status, 422, `${projectId}: ${JSON.stringify(body)}`);
      seen.push(`${at}/${how}: ${body.stage} ${body.code}`);
      assert.equal(body.stage, stage, `${projectId}: ${JSON.stringify(body)}`);
      assert.equal(body.code, code, `${projectId}: ${JSON.stringify(body)}`);
      assert.ok((body.hint ?? "").length > 30, "a hint a person can act on");
      // The peer saw the session get that far, and no further.
      assert.equal(p.sessions.at(-1)?.stage, at, `${projectId}: the peer was at ${at}`);
    }
  }
  assertLively(await live.stop(), "test-send against hang-ups");
  assert.equal(seen.length, 14);
});

test("test-send over STARTTLS: a hang-up after the TLS upgrade, at AUTH and after the message, is reported the same way", async () => {
  const live = watchLiveness(h.app);
  for (const { at, stage } of [{ at: "AUTH", stage: "auth" }, { at: "MESSAGE", stage: "send" }] as const) {
    const p = await peer({ starttls: true, script: { [at]: { do: "hangUp" } } });
    await putConfig(h, `tls-hang-${at.toLowerCase()}`, config(p, true));
    const { status, body } = await testSend(`tls-hang-${at.toLowerCase()}`);
    assert.equal(status, 422, JSON.stringify(body));
    assert.deepEqual([body.stage, body.code], [stage, "ECONNECTION"], JSON.stringify(body));
    assert.ok(p.sessions.at(-1)?.commands.includes("STARTTLS"), "the session was upgraded first");
  }
  assertLively(await live.stop(), "STARTTLS hang-ups");
});

test("a server that accepts the message and resets the connection at QUIT (after test-send is done with it): 200, nothing thrown later", async () => {
  const p = await peer({ script: { QUIT: { do: "reset" } } });
  await putConfig(h, "quit-reset", config(p));
  const live = watchLiveness(h.app);
  const { status, body } = await testSend("quit-reset");
  assert.equal(status, 200, JSON.stringify(body));
  await p.waitForClosed(1, 3000);
  // Give a late socket error time to surface (it would fail this file as an uncaught exception).
  await new Promise((r) => setTimeout(r, 300));
  assertLively(await live.stop(), "reset at QUIT");
  assert.equal(p.sessions[0]?.messages.length, 1);
  assert.equal(p.sessions[0]?.stage, "QUIT", "the client said QUIT and the server reset");
});

test("PUT ?verify=true against a server that hangs up during AUTH: 422 at auth, the old config stays", async () => {
  const good = await peer({});
  await putConfig(h, "verify-hang", config(good));
  const bad = await peer({ script: { AUTH: { do: "reset" } } });
  const live = watchLiveness(h.app);
  const res = await h.app.inject({ method: "PUT", url: "/v1/projects/verify-hang/smtp-config?verify=true", headers: h.auth, payload: { ...config(bad), fromEmail: "new@acme.test" } });
  bodies.push(res.body);
  assertLively(await live.stop(), "verify against a reset");
  assert.equal(res.statusCode, 422, res.body);
  assert.deepEqual([res.json().stage, res.json().code], ["auth", "ECONNRESET"]);
  const stored = await h.app.inject({ method: "GET", url: "/v1/projects/verify-hang/smtp-config", headers: h.auth });
  assert.equal(stored.json().port, good.port, "the old config stays");
});

test("the worker's pooled path: a job against a server that hangs up at each stage fails with a reason; the process lives", async () => {
  const live = watchLiveness(h.app);
  const jobs: { id: string; at: SmtpStage; p: HostileSmtpServer }[] = [];
  for (const { at } of STAGES) {
    const p = await peer({ script: { [at]: { do: at === "MAIL" ? "reset" : "hangUp" } } });
    const projectId = `pool-hang-${at.toLowerCase()}`;
    await putConfig(h, projectId, config(p));
    const [id] = await enqueue(h, { type: "incident", projectId, to: ["ops@example.com"], data: { incidentId: "1", title: "Down", state: "created", severity: "critical" } });
    jobs.push({ id: id!, at, p });
  }
  for (const { id, at, p } of jobs) {
    const job = await waitForJobState(h, id, ["failed"], 30_000);
    assert.match(job.failedReason ?? "", /^\[(connect|auth|send)\] (ECONNECTION|ECONNRESET): /, `${at}: ${job.failedReason}`);
    assert.equal(job.attempts, 2, `${at}: retried once (transient), then failed`);
    assert.ok(p.sessions.length >= 2 && p.sessions.every((s) => s.stage === at), `${at}: every session reached ${at}`);
  }
  assertLively(await live.stop(), "pooled sends against hang-ups");
});

let caFile: CaFile | undefined;
let child: ChildWorker | undefined;
after(async () => {
  await child?.kill();
  caFile?.remove();
});

test("a real production-mode process (API + worker + board) survives 4 test-sends and a verify against a server that hangs up during AUTH", async () => {
  const p = await peer({ script: { AUTH: { do: "hangUp" } } });
  const port = await freePort();
  const prefix = uniquePrefix("hostile-child");
  caFile = writeTestCaFile();
  child = spawnChildWorker({
    script: "workers/main.ts",
    name: "main",
    env: childWorkerEnv(h.childEnv, caFile.path, {
      NODE_ENV: "production", NOTIFY_PREFIX: prefix, HOST: "127.0.0.1", PORT: String(port),
      NOTIFY_ALLOW_PRIVATE_TARGETS: "true", DEFAULT_SMTP_URL: `smtp://127.0.0.1:${p.port}`, SEND_TIMEOUT_MS: "4000",
    }),
  });
  try {
    await child.waitForLog((l) => l.msg === "API listening", 30_000, "API listening");
    const base = `http://127.0.0.1:${port}`;
    const call = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${base}${path}`, { method, headers: { ...h.auth, ...(body ? { "content-type": "application/json" } : {}) }, body: body ? JSON.stringify(body) : undefined });
      const text = await res.text();
      bodies.push(text);
      return { status: res.status, text };
    };
    assert.equal((await call("PUT", "/v1/projects/child/smtp-config", config(p))).status, 200);
    for (let i = 0; i < 4; i++) {
      const res = await call("POST", "/v1/projects/child/smtp-config/test", { to: "ops@example.com" });
      assert.equal(res.status, 422, res.text);
      assert.match(res.text, /"stage":"auth"/);
    }
    const verify = await call("PUT", "/v1/projects/child/smtp-config?verify=true", config(p));
    assert.equal(verify.status, 422, verify.text);
    const started = performance.now();
    const health = await fetch(`${base}/healthz`);
    assert.equal(health.status, 200);
    assert.ok(performance.now() - started < 200, "/healthz answers at once");
    assert.equal(child.exit, undefined, `the process is still running\n${child.describe()}`);
    assert.ok(!child.stderr.some((l) => /Unhandled 'error' event|uncaught/i.test(l)), child.describe());
    assert.equal(p.sessions.length, 5, "every try reached the server");
    assert.ok(!child.stdout.join("\n").includes(PASS), "the password is not in the logs");
  } finally {
    await child.kill("SIGTERM");
    await deleteKeys(h.services.redis, prefix);
  }
});

test("no answer in this file carries the password", () => {
  assert.ok(bodies.length >= 20, `${bodies.length} answers`);
  assert.deepEqual(bodies.filter((b) => b.includes(PASS)), []);
  assert.ok(!h.logs.join("\n").includes(PASS));
});
