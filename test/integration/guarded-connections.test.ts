// The guarded connection path (nodemailer's getSocket with our own lookup, used whenever
// private targets are not allowed) must deliver like the plain one: STARTTLS on 587-style
// ports and implicit TLS on 465. Loopback is private, so these tests block only 10.0.0.0/8.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHarness, passwordConfig, putConfig, waitForJobState, type Harness, enqueue } from "../helpers/harness.ts";
import { startTestSmtpServer, type TestSmtpServer } from "../helpers/smtp-server.ts";

let h: Harness;
const servers: TestSmtpServer[] = [];
/** Every address the guard was asked about: proves the guarded path was taken. */
const checked: string[] = [];

before(async () => {
  h = await createHarness("guarded", {
    delivery: { transport: { blockPrivateTargets: true, blockedAddress: (ip) => (checked.push(ip), ip.startsWith("10.")) } },
  });
});

after(async () => {
  await h.close();
  await Promise.all(servers.map((s) => s.close()));
});

async function sendOne(projectId: string, to: string): Promise<void> {
  const [id] = await enqueue(h, { type: "alert", projectId, to: [to], data: { alertId: "1", title: "Disk full", state: "created", severity: "high" } });
  const done = await waitForJobState(h, id!, ["completed"]);
  assert.match(done.result?.response ?? "", /^250/);
}

test("STARTTLS and password auth over a guarded connection", async () => {
  const smtp = await startTestSmtpServer({ password: { user: "mailer", pass: "pw-guarded" } });
  servers.push(smtp);
  await putConfig(h, "starttls", passwordConfig(smtp.port, "mailer", "pw-guarded"));
  await sendOne("starttls", "ops@example.com");
  assert.equal(smtp.received.length, 1);
  assert.equal(smtp.received[0]!.secure, true, "the session was encrypted");
  assert.equal(smtp.received[0]!.user, "mailer");
  assert.ok(checked.some((ip) => ip === "127.0.0.1" || ip === "::1"), `the guard saw the dialled address (saw ${checked.join(", ")})`);
});

test("implicit TLS on port 465 over a guarded connection", async (t) => {
  let smtp: TestSmtpServer;
  try {
    smtp = await startTestSmtpServer({ port: 465, implicitTls: true, password: { user: "mailer", pass: "pw-465" } });
  } catch (err) {
    // Port 465 needs root (or a free port 465); CI runs as root, a developer may not.
    t.skip(`cannot listen on 465 here: ${(err as Error).message}`);
    return;
  }
  servers.push(smtp);
  await putConfig(h, "implicit", passwordConfig(465, "mailer", "pw-465"));
  await sendOne("implicit", "ops@example.com");
  assert.equal(smtp.received.length, 1);
  assert.equal(smtp.received[0]!.secure, true);
});
