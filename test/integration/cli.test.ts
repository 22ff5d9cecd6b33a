// The `notify-smtp` CLI end to end: the real bin as a subprocess, against the API listening on
// a real port, a worker and a real SMTP server. Every error is checked for being one line,
// with no stack frame and no token in it.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHarness, waitForJobState, type Harness } from "../helpers/harness.ts";
import { freePort, startTestSmtpServer, type TestSmtpServer } from "../helpers/smtp-server.ts";
import { runCli, STACK_FRAME, type CliOptions, type CliResult } from "../helpers/cli.ts";

const USER = "mailer";
const PASS = "cli-s3cret-pass";

let h: Harness;
let smtp: TestSmtpServer;
let apiUrl: string;
let dir: string;
let env: Record<string, string>;

const goodConfig = () => ({
  host: "localhost", port: smtp.port, secure: true, fromEmail: "status@acme.test", fromName: "Acme Status",
  auth: { type: "password", username: USER, password: PASS },
});
const incident = { incidentId: "42", title: "API is down", state: "created", severity: "critical" };

async function file(name: string, content: unknown): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, typeof content === "string" ? content : JSON.stringify(content));
  return path;
}

/** Runs the CLI against the harness; asserts the token shows up in neither stream. */
async function cli(args: string[], options: CliOptions = {}): Promise<CliResult> {
  const result = await runCli(args, { ...options, env: options.env ?? env });
  for (const stream of [result.stdout, result.stderr]) assert.ok(!stream.includes(h.settings.adminToken), `the token was printed: ${stream}`);
  assert.doesNotMatch(result.stderr, STACK_FRAME, "no stack trace");
  return result;
}

/** A failed run: non-zero exit, nothing on stdout, `lines` lines on stderr, the first matching. */
function assertError(result: CliResult, first: RegExp, options: { code?: number; lines?: number } = {}): void {
  assert.notEqual(result.code, 0, `expected failure: ${JSON.stringify(result)}`);
  if (options.code !== undefined) assert.equal(result.code, options.code, result.stderr);
  assert.equal(result.stdout, "");
  const lines = result.stderr.trimEnd().split("\n");
  assert.equal(lines.length, options.lines ?? 1, `stderr: ${result.stderr}`);
  assert.match(lines[0]!, first);
}

/** Sends one incident through the CLI and returns its job id. */
async function sendOne(to: string, projectId = "acme"): Promise<string> {
  const res = await cli(["send", "--type", "incident", "--project", projectId, "--to", to, "--data", await file("incident.json", incident)]);
  assert.equal(res.code, 0, res.stderr);
  const [id] = res.stdout.trim().split(" ");
  return id!;
}

before(async () => {
  h = await createHarness("cli");
  await h.app.listen({ port: 0, host: "127.0.0.1" });
  apiUrl = `http://127.0.0.1:${(h.app.server.address() as AddressInfo).port}`;
  env = { NOTIFY_API_URL: apiUrl, NOTIFY_ADMIN_TOKEN: h.settings.adminToken };
  smtp = await startTestSmtpServer({ password: { user: USER, pass: PASS } });
  dir = await mkdtemp(join(tmpdir(), "notify-cli-"));
});

after(async () => {
  await h.close();
  await smtp.close();
  await rm(dir, { recursive: true, force: true });
});

test("config set stores the file's config and prints it with the password redacted", async () => {
  const res = await cli(["config", "set", "--project", "acme", "--file", await file("acme.json", goodConfig())]);
  assert.equal(res.code, 0, res.stderr);
  assert.equal(res.stderr, "");
  assert.ok(!res.stdout.includes(PASS), "the password is not printed");
  const shown = JSON.parse(res.stdout) as { host: string; port: number; auth: { username: string; password: string } };
  assert.equal(shown.port, smtp.port);
  assert.equal(shown.auth.username, USER);
  assert.equal(shown.auth.password, "[redacted]");
  assert.match(res.stdout, /^\{\n  "host"/, "pretty JSON");
});

test("config set --file - reads stdin", async () => {
  const res = await cli(["config", "set", "--project", "from-stdin", "--file", "-"], { input: JSON.stringify(goodConfig()) });
  assert.equal(res.code, 0, res.stderr);
  assert.equal((JSON.parse(res.stdout) as { host: string }).host, "localhost");
});

test("config get prints the stored config, redacted", async () => {
  const res = await cli(["config", "get", "--project", "acme"]);
  assert.equal(res.code, 0, res.stderr);
  const shown = JSON.parse(res.stdout) as { fromEmail: string; auth: { password: string } };
  assert.equal(shown.fromEmail, "status@acme.test");
  assert.equal(shown.auth.password, "[redacted]");
  assert.ok(!res.stdout.includes(PASS));
});

test("config test sends a test email and prints the reply, the messageId and the timings", async () => {
  const before = smtp.received.length;
  const res = await cli(["config", "test", "--project", "acme", "--to", "ops@example.com"]);
  assert.equal(res.code, 0, res.stderr);
  assert.match(res.stdout, /^ok: 250 .* \(messageId <[^>]+>\)$/m);
  assert.match(res.stdout, /^timings: connect \d+ ms, auth \d+ ms, send \d+ ms, total \d+ ms$/m);
  await smtp.waitForCount(before + 1);
  const mail = smtp.received[before]!;
  assert.deepEqual(mail.to, ["ops@example.com"]);
  assert.ok(res.stdout.includes(mail.mail.messageId ?? "(none)"), "the printed messageId is the one that arrived");
});

test("config test with a refused login exits 1 with the stage, the code and a hint", async () => {
  const bad = { ...goodConfig(), auth: { type: "password", username: USER, password: "wrong-password" } };
  const set = await cli(["config", "set", "--project", "bad-auth", "--file", await file("bad.json", bad)]);
  assert.equal(set.code, 0, set.stderr);
  const before = smtp.received.length;

  const res = await cli(["config", "test", "--project", "bad-auth", "--to", "ops@example.com"]);
  assert.equal(res.code, 1);
  assert.equal(res.stdout, "");
  assert.match(res.stderr, /^failed at auth: 535 .+$/m);
  assert.match(res.stderr, /^hint: \S.+$/m);
  assert.ok(!res.stderr.includes("wrong-password"));
  assert.equal(smtp.received.length, before, "nothing was sent");
});

test("config set --verify with a refused login keeps the old config and exits 1", async () => {
  const bad = { ...goodConfig(), fromName: "Changed", auth: { type: "password", username: USER, password: "wrong-password" } };
  const res = await cli(["config", "set", "--project", "acme", "--verify", "--file", await file("bad-verify.json", bad)]);
  assert.equal(res.code, 1);
  assert.match(res.stderr, /^failed at auth: 535/m);
  assert.match(res.stderr, /^the stored config was not changed$/m);
  const get = await cli(["config", "get", "--project", "acme"]);
  assert.equal((JSON.parse(get.stdout) as { fromName: string }).fromName, "Acme Status");
});

test("send enqueues one job per recipient and prints each id; the emails arrive", async () => {
  const data = await file("send.json", incident);
  const res = await cli(["send", "--type", "incident", "--project", "acme", "--to", "a@example.com", "--to", "b@example.com", "--data", data, "--idempotency-key", "cli-42"]);
  assert.equal(res.code, 0, res.stderr);
  const lines = res.stdout.trimEnd().split("\n");
  assert.equal(lines.length, 2);
  assert.match(lines[0]!, /^i-\S+ a@example\.com$/);
  assert.match(lines[1]!, /^i-\S+ b@example\.com$/);
  for (const line of lines) {
    const job = await waitForJobState(h, line.split(" ")[0]!, ["completed"]);
    assert.match(job.result?.response ?? "", /^250/);
  }
  const arrived = smtp.received.filter((m) => m.to.includes("a@example.com") || m.to.includes("b@example.com"));
  assert.equal(arrived.length, 2);
  assert.match(arrived[0]!.mail.subject ?? "", /API is down/);

  const get = await cli(["jobs", "get", lines[0]!.split(" ")[0]!]);
  assert.equal(get.code, 0, get.stderr);
  assert.equal((JSON.parse(get.stdout) as { state: string }).state, "completed");
});

test("jobs failed lists failed jobs newest first, with their reasons; COLUMNS cuts the reason", async () => {
  smtp.script.push({ at: "RCPT", code: 550, message: "5.1.1 no such user" });
  const older = await sendOne("gone-1@example.com");
  await waitForJobState(h, older, ["failed"]);
  smtp.script.push({ at: "RCPT", code: 550, message: "5.1.1 no such user" });
  const newer = await sendOne("gone-2@example.com");
  await waitForJobState(h, newer, ["failed"]);

  const res = await cli(["jobs", "failed"]);
  assert.equal(res.code, 0, res.stderr);
  const lines = res.stdout.trimEnd().split("\n");
  assert.match(lines[0]!, /^ID +TYPE +PROJECT +TO +ATTEMPTS +FAILED AT +REASON$/);
  const row = (id: string) => lines.findIndex((l) => l.startsWith(id));
  assert.ok(row(newer) > 0 && row(older) > row(newer), `newest first:\n${res.stdout}`);
  const newerRow = lines[row(newer)]!;
  assert.match(newerRow, /incident +acme +gone-2@example\.com +1 +\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ +\[send\] 550: (550 )?5\.1\.1 no such user/);
  assert.match(newerRow, /Hint: the server refused the recipient/, "piped output keeps the whole reason");

  const narrow = await cli(["jobs", "failed", "--limit", "1"], { env: { ...env, COLUMNS: "150" } });
  const narrowLines = narrow.stdout.trimEnd().split("\n");
  assert.equal(narrowLines.length, 2, "--limit 1: the header and one row");
  assert.ok(narrowLines[1]!.startsWith(newer));
  assert.ok([...narrowLines[1]!].length <= 150, `fits 150 columns: ${narrowLines[1]}`);
  assert.match(narrowLines[1]!, /\[send\] 550.*…$/);
});

test("jobs retry puts a failed job back, and it completes now that the server accepts the recipient", async () => {
  smtp.script.push({ at: "RCPT", code: 550, message: "5.1.1 no such user" });
  const id = await sendOne("retry-me@example.com");
  const failed = await waitForJobState(h, id, ["failed"]);
  assert.match(failed.failedReason ?? "", /550/);
  assert.equal(smtp.script.length, 0, "the server's script is spent: it accepts the recipient now");

  const res = await cli(["jobs", "retry", id]);
  assert.equal(res.code, 0, res.stderr);
  assert.match(res.stdout, new RegExp(`^job ${id} is queued again \\(now (waiting|prioritized|active|completed)\\)`));
  const job = await waitForJobState(h, id, ["completed"]);
  assert.match(job.result?.response ?? "", /^250/);
  assert.equal(smtp.received.filter((m) => m.to.includes("retry-me@example.com")).length, 1);

  const again = await cli(["jobs", "retry", id]);
  assert.equal(again.code, 1);
  assertError(again, new RegExp(`^notify-smtp: conflict: job ${id} is completed; only failed jobs can be retried$`));
});

test("config delete removes the config, and get then says there is none", async () => {
  const res = await cli(["config", "delete", "--project", "from-stdin"]);
  assert.equal(res.code, 0, res.stderr);
  assert.equal(res.stdout, "deleted the SMTP config of project from-stdin; it now uses the default server\n");
  assertError(await cli(["config", "get", "--project", "from-stdin"]), /^notify-smtp: not found: project from-stdin has no SMTP config/, { code: 1 });
});

test("errors: no token, a wrong token, an unreachable API", async () => {
  assertError(await cli(["config", "get", "--project", "acme"], { env: { NOTIFY_API_URL: apiUrl } }), /^notify-smtp: no admin token: set NOTIFY_ADMIN_TOKEN or pass --token/, { code: 2 });

  const wrong = await cli(["config", "get", "--project", "acme"], { env: { NOTIFY_API_URL: apiUrl, NOTIFY_ADMIN_TOKEN: "not-the-token-1234" } });
  // The token was set and sent: the message says it was refused, not that it is missing.
  assertError(wrong, /^notify-smtp: the API refused the token given by NOTIFY_ADMIN_TOKEN: it does not match the server's NOTIFY_ADMIN_TOKEN$/, { code: 1 });
  assert.ok(!wrong.stderr.includes("not-the-token-1234"));
  const wrongFlag = await cli(["jobs", "failed", "--token", "flag-token-5678", "--api", apiUrl], { env: {} });
  assertError(wrongFlag, /^notify-smtp: the API refused the token given by --token: /);
  assert.ok(!wrongFlag.stderr.includes("flag-token-5678"));

  const closed = `http://127.0.0.1:${await freePort()}`;
  const unreachable = await cli(["jobs", "failed"], { env: { ...env, NOTIFY_API_URL: closed } });
  assertError(unreachable, new RegExp(`^notify-smtp: cannot reach the API at ${closed}: connection refused`), { code: 1 });
  assertError(await cli(["jobs", "failed", "--api", "ftp://example.com"]), /^notify-smtp: --api must be an http:\/\/ or https:\/\/ URL/, { code: 2 });
});

test("errors: a wrong command line is one line and exit code 2", async () => {
  const cases: [string[], RegExp][] = [
    [["config", "get"], /^notify-smtp: missing --project P \(see: notify-smtp config get --help\)$/],
    [["frobnicate"], /^notify-smtp: unknown command "frobnicate"/],
    [["config", "frob"], /^notify-smtp: unknown command "config frob"/],
    [["config", "get", "--project", "acme", "--verbose"], /^notify-smtp: unknown flag --verbose for "config get"/],
    [["config", "get", "--project", "--token", "x"], /^notify-smtp: --project needs a value/],
    [["jobs", "get"], /^notify-smtp: missing ID/],
    [["jobs", "failed", "--limit", "1000"], /^notify-smtp: --limit must be a whole number from 1 to 500/],
    [["send", "--type", "memo", "--project", "acme", "--to", "a@example.com", "--data", "x.json"], /^notify-smtp: --type must be one of incident, alert, status-page/],
    [[], /^notify-smtp: missing command/],
  ];
  // Independent runs: in parallel, each process start costs most of a second.
  const results = await Promise.all(cases.map(([args]) => cli(args)));
  results.forEach((result, i) => assertError(result, cases[i]![1], { code: 2 }));
});

test("errors: an unreadable or invalid JSON file is named, and its text is not echoed", async () => {
  const missing = join(dir, "nope.json");
  assertError(await cli(["config", "set", "--project", "acme", "--file", missing]), new RegExp(`^notify-smtp: cannot read ${missing} \\(--file\\): no such file$`), { code: 1 });
  const broken = await file("broken.json", '{\n  "host": "x",\n  "auth": { "password": "hunter2-secret" "oops": 1 }\n}');
  const res = await cli(["config", "set", "--project", "acme", "--file", broken]);
  assertError(res, new RegExp(`^notify-smtp: ${broken} \\(--file\\) is not valid JSON: unexpected text at line 3, column \\d+$`), { code: 1 });
  assert.ok(!res.stderr.includes("hunter2"));
  const array = await file("array.json", "[1, 2]");
  assertError(await cli(["send", "--type", "incident", "--project", "acme", "--to", "a@example.com", "--data", array]), /must hold a JSON object/, { code: 1 });
});

test("errors: 400 lists each invalid field, 404, 413", async () => {
  const bad = await cli(["send", "--type", "incident", "--project", "acme", "--to", "not-an-address", "--data", await file("partial.json", { incidentId: "1", extra: true })]);
  assert.equal(bad.code, 1);
  const [first, ...details] = bad.stderr.trimEnd().split("\n");
  assert.match(first!, /^notify-smtp: the API rejected the request: /);
  assert.ok(details.length >= 2, bad.stderr);
  for (const line of details) assert.match(line, /^ {2}[\w.[\]()]+: \S/);
  assert.ok(details.some((l) => l.includes("data.title")), bad.stderr);

  assertError(await cli(["jobs", "get", "e-does-not-exist"]), /^notify-smtp: not found: no job e-does-not-exist/, { code: 1 });
  assertError(await cli(["jobs", "retry", "e-does-not-exist"]), /^notify-smtp: not found: no job e-does-not-exist/, { code: 1 });

  const huge = await file("huge.json", { ...incident, description: "x".repeat(300 * 1024) });
  assertError(await cli(["send", "--type", "incident", "--project", "acme", "--to", "a@example.com", "--data", huge]), /^notify-smtp: the request is too large for the API: /, { code: 1 });
});

test("errors: a failing API (5xx, with or without a JSON body) is one line", async () => {
  const server: Server = createServer((req, res) => {
    if (req.url?.startsWith("/v1/jobs/html")) {
      res.writeHead(502, { "content-type": "text/html" }).end("<html><body>Bad gateway</body></html>");
      return;
    }
    res.writeHead(500, { "content-type": "application/json" }).end(JSON.stringify({ error: { code: "internal", message: "something went wrong on our side" } }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    assertError(await cli(["jobs", "get", "x1"], { env: { ...env, NOTIFY_API_URL: url } }), /^notify-smtp: the API failed \(500 internal\): something went wrong on our side$/, { code: 1 });
    assertError(await cli(["jobs", "get", "html"], { env: { ...env, NOTIFY_API_URL: url } }), /^notify-smtp: the API failed \(502\): Bad Gateway$/, { code: 1 });
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

test("--help for the tool, a group and each command goes to stdout with exit 0", async () => {
  const main = await cli(["--help"], { env: {} });
  assert.equal(main.code, 0);
  for (const command of ["config set", "config get", "config delete", "config test", "send", "jobs get ID", "jobs failed", "jobs retry ID"]) {
    assert.match(main.stdout, new RegExp(`^  ${command} `, "m"));
  }
  const set = await cli(["config", "set", "--help"], { env: {} });
  assert.match(set.stdout, /^Usage: notify-smtp config set --project P --file cfg\.json \[--verify\]$/m);
  const send = await cli(["help", "send"], { env: {} });
  assert.match(send.stdout, /--to addr …/);
  const group = await cli(["jobs", "-h"], { env: {} });
  assert.match(group.stdout, /notify-smtp jobs retry ID/);
});

// The admin job routes themselves (src/http/admin-jobs.ts), through inject.

test("GET /v1/jobs validates state and limit", async () => {
  for (const query of ["state=bogus", "limit=0", "limit=501", "limit=abc", "state=failed&limit=1.5"]) {
    const res = await h.app.inject({ method: "GET", url: `/v1/jobs?${query}`, headers: h.auth });
    assert.equal(res.statusCode, 400, `${query}: ${res.body}`);
    const { error } = res.json() as { error: { code: string; details: { field: string }[] } };
    assert.equal(error.code, "validation_failed");
    assert.equal(error.details.length, 1);
  }
  const unauthenticated = await h.app.inject({ method: "GET", url: "/v1/jobs?state=failed" });
  assert.equal(unauthenticated.statusCode, 401);
  const completed = await h.app.inject({ method: "GET", url: "/v1/jobs?state=completed&limit=2", headers: h.auth });
  assert.equal(completed.statusCode, 200);
  const { jobs } = completed.json() as { jobs: { state: string; failedAt: string | null; failedReason: string | null }[] };
  assert.equal(jobs.length, 2);
  for (const job of jobs) assert.deepEqual([job.state, job.failedAt, job.failedReason], ["completed", null, null]);
});

test("GET /v1/jobs?state=waiting shows prioritized jobs; retrying a job that is not failed is 409, an unknown one 404", async () => {
  const queue = h.services.producer.queue;
  await queue.pause();
  try {
    const res = await h.app.inject({ method: "POST", url: "/v1/emails", headers: h.auth, payload: { type: "incident", projectId: "acme", to: ["paused@example.com"], data: incident } });
    const id = (res.json() as { jobs: { id: string }[] }).jobs[0]!.id;
    const waiting = await h.app.inject({ method: "GET", url: "/v1/jobs?state=waiting", headers: h.auth });
    const listed = (waiting.json() as { jobs: { id: string; state: string; to: string }[] }).jobs.find((j) => j.id === id);
    assert.deepEqual(listed && { state: listed.state, to: listed.to }, { state: "waiting", to: "paused@example.com" });

    const retry = await h.app.inject({ method: "POST", url: `/v1/jobs/${id}/retry`, headers: h.auth, payload: {} });
    assert.equal(retry.statusCode, 409, retry.body);
    assert.equal((retry.json() as { error: { code: string } }).error.code, "not_failed");
  } finally {
    await queue.resume();
  }
  const unknown = await h.app.inject({ method: "POST", url: "/v1/jobs/e-nope/retry", headers: h.auth, payload: {} });
  assert.equal(unknown.statusCode, 404);
  const malformed = await h.app.inject({ method: "POST", url: `/v1/jobs/${encodeURIComponent("a b")}/retry`, headers: h.auth, payload: {} });
  assert.equal(malformed.statusCode, 404);
});
