// The CLI's terminal is ours to protect: an API (or what a peer told it) that puts ANSI/OSC
// escapes, BEL, C1 controls or CR/LF into a job's reason, a test-send reply, an error message
// or an id must not get a single control character onto the operator's screen. The real bin runs
// against a hostile API on a real port; every stream is scanned byte by byte.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli, STACK_FRAME, type CliResult } from "../helpers/cli.ts";

const EVIL = "\x1b]0;pwned\x07\x1b[31m";
const C1 = "\x9b2J\x85";
const TOKEN = "hostile-api-admin-token-0123";
/** Anything a terminal would act on: C0 except TAB and LF, DEL, C1. */
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;

let server: Server;
let env: Record<string, string>;
let dir: string;

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
}

before(async () => {
  server = createServer((req, res) => {
    const url = req.url ?? "";
    if (req.headers.authorization !== `Bearer ${TOKEN}`) return json(res, 401, { error: { code: "unauthorized", message: `no${EVIL}` } });
    if (req.method === "GET" && url.startsWith("/v1/jobs?")) {
      return json(res, 200, { jobs: [{
        id: `i-1${EVIL}`, type: `incident${C1}`, projectId: "acme", to: `a@example.com${EVIL}`, state: "failed", attempts: 1,
        failedReason: `[send] 550: 5.1.1 no such user${EVIL}\r\nInjected: line${C1}`, failedAt: `2024-01-01T00:00:00.000Z${EVIL}`,
      }] });
    }
    if (req.method === "GET" && url.startsWith("/v1/jobs/")) return json(res, 200, { id: "i-1", state: "failed", failedReason: `reason${EVIL}${C1}\x7f` });
    if (req.method === "POST" && url === "/v1/jobs/ok-id/retry") return json(res, 202, { id: "ok-id", state: `waiting${EVIL}` });
    if (req.method === "POST" && url === "/v1/jobs/gone/retry") return json(res, 409, { error: { code: `not_failed${EVIL}`, message: `job gone is completed${EVIL}${C1}` } });
    if (req.method === "POST" && url === "/v1/projects/good/smtp-config/test") {
      return json(res, 200, { ok: true, messageId: `<m@x>${EVIL}`, response: `250 2.0.0 queued${EVIL}${C1}`, timingsMs: { connect: 1, total: 2 }, server: "project" });
    }
    if (req.method === "POST" && url === "/v1/projects/bad/smtp-config/test") {
      return json(res, 422, { ok: false, stage: `auth${EVIL}`, code: `535${EVIL}`, message: `535 5.7.8 bad${EVIL}\r\n250 fake`, hint: `fix it${EVIL}${C1}`, timingsMs: { total: 3 } });
    }
    if (req.method === "POST" && url === "/v1/emails") return json(res, 400, { error: { code: "validation_failed", message: `bad${EVIL}`, details: [{ field: `to${EVIL}`, message: `must be an address${C1}` }] } });
    if (req.method === "POST" && url === "/v1/admin/keys/rotate") {
      return json(res, 200, { keyId: `ab${EVIL}`, configs: { resealed: 1, current: 0, unreadable: 1, busy: 0, unreadableProjects: [`p${EVIL}`] }, tokens: { dropped: 0, current: 0 } });
    }
    json(res, 500, { error: { code: `internal${EVIL}`, message: `boom${EVIL}${C1}` } });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  env = { NOTIFY_API_URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, NOTIFY_ADMIN_TOKEN: TOKEN };
  dir = await mkdtemp(join(tmpdir(), "notify-cli-hostile-"));
});

after(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await rm(dir, { recursive: true, force: true });
});

/** Runs the bin; asserts no control character on either stream and no stack trace. */
async function cli(args: string[], runEnv = env): Promise<CliResult> {
  const result = await runCli(args, { env: runEnv });
  for (const [name, stream] of [["stdout", result.stdout], ["stderr", result.stderr]] as const) {
    const hit = CONTROL.exec(stream);
    assert.equal(hit, null, `${args.join(" ")}: a control character (${JSON.stringify(hit?.[0])}) on ${name}: ${JSON.stringify(stream)}`);
  }
  assert.doesNotMatch(result.stderr, STACK_FRAME);
  return result;
}

test("jobs failed: a reason with OSC/CSI escapes, CR/LF and C1 controls prints as one clean row", async () => {
  const res = await cli(["jobs", "failed"]);
  assert.equal(res.code, 0, res.stderr);
  const lines = res.stdout.trimEnd().split("\n");
  assert.equal(lines.length, 2, "the header and one row: CR/LF in the reason adds no line");
  assert.match(lines[1]!, /5\.1\.1 no such user \]0;pwned \[31m Injected: line/, "the text is kept, the escapes are gone");
});

test("config test: the reply, message, code and hint of a hostile server print clean, ok and failed", async () => {
  const ok = await cli(["config", "test", "--project", "good", "--to", "ops@example.com"]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /^ok: 250 2\.0\.0 queued \]0;pwned \[31m/m);
  const failed = await cli(["config", "test", "--project", "bad", "--to", "ops@example.com"]);
  assert.equal(failed.code, 1);
  const lines = failed.stderr.trimEnd().split("\n");
  assert.match(lines[0]!, /^failed at auth \]0;pwned \[31m: /);
  assert.ok(!lines.some((l) => l.startsWith("250 fake")), "a CR/LF in the message starts no line of its own");
  assert.match(failed.stderr, /^hint: fix it/m);
});

test("jobs get (JSON), jobs retry, send's field errors, a 409, a 5xx and keys rotate print clean", async () => {
  const get = await cli(["jobs", "get", "i-1"]);
  assert.equal(get.code, 0, get.stderr);
  assert.equal((JSON.parse(get.stdout) as { failedReason: string }).failedReason, `reason${EVIL}${C1}\x7f`, "the JSON still carries the exact value, escaped");

  const retried = await cli(["jobs", "retry", "ok-id"]);
  assert.match(retried.stdout, /^job ok-id is queued again \(now waiting \]0;pwned \[31m\)/);
  const conflict = await cli(["jobs", "retry", "gone"]);
  assert.match(conflict.stderr, /^notify-smtp: conflict: job gone is completed/);

  const data = join(dir, "data.json");
  await writeFile(data, JSON.stringify({ incidentId: "1" }));
  const bad = await cli(["send", "--type", "incident", "--project", "acme", "--to", "x@example.com", "--data", data]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /^ {2}to \]0;pwned \[31m: must be an address/m);

  const failing = await cli(["config", "get", "--project", "boom"]);
  assert.match(failing.stderr, /^notify-smtp: the API failed \(500 internal \]0;pwned \[31m\): boom/);

  const rotate = await cli(["keys", "rotate"]);
  assert.equal(rotate.code, 1);
  assert.match(rotate.stderr, /^unreadable: p \]0;pwned/m);
});

test("a wrong token: the message says it was refused (not that it is missing), also cleaned", async () => {
  const res = await cli(["jobs", "failed"], { ...env, NOTIFY_ADMIN_TOKEN: "wrong-token-but-set-1234" });
  assert.equal(res.code, 1);
  assert.equal(res.stderr, "notify-smtp: the API refused the token given by NOTIFY_ADMIN_TOKEN: it does not match the server's NOTIFY_ADMIN_TOKEN\n");
  assert.ok(!res.stderr.includes("wrong-token-but-set"));
});
