// What an operator's log shows: one line per request, with health checks, scrapes, the board's
// static files and its polling at debug; one info line per delivered email with job id,
// project, type and duration (no address); pretty lines in a development terminal, JSON otherwise.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHarness, enqueue, passwordConfig, putConfig, waitForJobState, eventually, type Harness } from "../helpers/harness.ts";
import { startTestSmtpServer, type TestSmtpServer } from "../helpers/smtp-server.ts";
import { PROJECT_ROOT } from "../helpers/child-worker.ts";
import { isQuietRequest } from "../../src/http/request-log.ts";
import { wantsPrettyLogs } from "../../src/log.ts";

let h: Harness;
let smtp: TestSmtpServer;

before(async () => {
  h = await createHarness("operator-logs");
  smtp = await startTestSmtpServer({ password: { user: "mailer", pass: "logs-pass" } });
  await putConfig(h, "acme", passwordConfig(smtp.port, "mailer", "logs-pass"));
});

after(async () => {
  await h?.close();
  await smtp?.close();
});

interface Line { level: number; msg: string; [key: string]: unknown }
const lines = (): Line[] => h.logs.map((l) => JSON.parse(l) as Line);
const requestLine = (url: string) => lines().find((l) => l.msg === "request completed" && (l.req as { url: string }).url === url);

test("one line per request; health, metrics, board assets and board polling at debug, the API at info", async () => {
  const queue = h.services.producer.queue.name;
  const urls = ["/healthz", "/readyz", "/metrics", "/admin/queues/static/favicon-32x32.png", `/admin/queues/api/queues?activeQueue=${queue}`];
  for (const url of urls) {
    const res = await h.app.inject({ method: "GET", url, headers: h.auth });
    assert.ok(res.statusCode < 500, `${url}: ${res.statusCode}`);
  }
  await enqueue(h, { type: "incident", projectId: "acme", to: ["quiet@example.com"], data: { incidentId: "1", title: "t", state: "created", severity: "minor" } });
  for (const url of urls) assert.equal(requestLine(url)?.level, 20, `${url} at debug`);
  const post = requestLine("/v1/emails");
  assert.equal(post?.level, 30, "the API at info");
  assert.equal((post?.res as { statusCode: number }).statusCode, 202);
  assert.equal(typeof post?.responseTime, "number");
  assert.equal(lines().filter((l) => l.msg === "incoming request").length, 0, "no second line per request");
  assert.ok(!h.logs.some((l) => l.includes(h.settings.adminToken)), "no token in request lines");

  assert.equal(isQuietRequest("PUT", "/admin/queues/api/queues/emails/1/retry"), false, "board actions stay at info");
  assert.equal(isQuietRequest("GET", "/dev/inbox?format=json&q="), true, "the inbox page's polling");
  assert.equal(isQuietRequest("GET", "/dev/inbox"), false);
});

test("each delivered email: one info line with jobId, projectId, type and duration, no address", async () => {
  const [id] = await enqueue(h, { type: "alert", projectId: "acme", to: ["someone@customer.example"], data: { alertId: "9", title: "Disk", state: "created", severity: "high" } });
  await waitForJobState(h, id!, ["completed"]);
  const sent = await eventually(() => lines().find((l) => l.msg === "sent" && l.jobId === id), 5000, "the sent line");
  assert.equal(sent.level, 30);
  assert.equal(sent.projectId, "acme");
  assert.equal(sent.type, "alert");
  assert.ok(typeof sent.durationMs === "number" && sent.durationMs >= 0);
  assert.ok(!JSON.stringify(sent).includes("someone@"), "no recipient address at info");
  assert.equal(lines().filter((l) => l.msg === "sent" && l.jobId === id).length, 1);
});

test("pretty output goes through pino's transport (redaction still applied); JSON unless a development TTY", () => {
  assert.equal(wantsPrettyLogs(false, { isTTY: true }), true);
  assert.equal(wantsPrettyLogs(true, { isTTY: true }), false, "never in production");
  assert.equal(wantsPrettyLogs(false, { isTTY: false }), false, "a pipe or a file gets JSON");
  assert.equal(wantsPrettyLogs(false, {}), false);
  const script = `
    import { createLogger } from "./src/log.ts";
    const log = createLogger({ pretty: true }).child({ role: "demo" });
    log.info({ auth: { password: "hunter2-secret" }, jobId: "j-1" }, "pretty hello");`;
  const result = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { cwd: PROJECT_ROOT, encoding: "utf8", timeout: 30_000 });
  assert.equal(result.status, 0, result.stderr);
  assert.match(result.stdout, /INFO.*pretty hello/);
  assert.match(result.stdout, /jobId: "j-1"/);
  assert.match(result.stdout, /\[redacted\]/);
  assert.doesNotMatch(result.stdout, /hunter2-secret/);
  assert.doesNotMatch(result.stdout, /^\{"level"/m, "not JSON");
});
