// With private targets not allowed (the production default), nothing connects to a loopback or
// private address, even when a stored config's host name starts resolving to one after it
// was saved (simulated here by storing configs directly, past the PUT validation).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHarness, passwordConfig, waitForJobState, type Harness, enqueue } from "../helpers/harness.ts";
import { startTestSmtpServer, type TestSmtpServer } from "../helpers/smtp-server.ts";
import type { SmtpConfig } from "../../src/smtp-config/model.ts";

let h: Harness;
let smtp: TestSmtpServer;

before(async () => {
  h = await createHarness("private-targets", { env: { NOTIFY_ALLOW_PRIVATE_TARGETS: "false" } });
  smtp = await startTestSmtpServer({ password: { user: "mailer", pass: "pw-private" } });
});

after(async () => {
  await h.close();
  await smtp.close();
});

test("PUT refuses a host that resolves to a private address", async () => {
  const res = await h.app.inject({ method: "PUT", url: "/v1/projects/p/smtp-config", headers: h.auth, payload: passwordConfig(smtp.port, "mailer", "pw-private") });
  assert.equal(res.statusCode, 400);
  assert.match(res.body, /NOTIFY_ALLOW_PRIVATE_TARGETS/);
});

for (const host of ["localhost", "127.0.0.1"]) {
  test(`a stored config whose host (${host}) is private fails at connect time without connecting`, async () => {
    const projectId = `rebound-${host.replace(/\W/g, "")}`;
    const config = { ...passwordConfig(smtp.port, "mailer", "pw-private"), host } as unknown as SmtpConfig;
    await h.services.store.put(projectId, config);
    const [id] = await enqueue(h, { type: "incident", projectId, to: ["ops@example.com"], data: { incidentId: "1", title: "t", state: "created", severity: "s" } });
    const failed = await waitForJobState(h, id!, ["failed"]);
    assert.equal(failed.attempts, 1, "permanent: no retries");
    assert.match(failed.failedReason ?? "", /^\[connect\] EPRIVATE: .*private or loopback.*Hint: .*NOTIFY_ALLOW_PRIVATE_TARGETS/);

    const tested = await h.app.inject({ method: "POST", url: `/v1/projects/${projectId}/smtp-config/test`, headers: h.auth, payload: { to: "ops@example.com" } });
    assert.equal(tested.statusCode, 422);
    assert.deepEqual([tested.json().stage, tested.json().code], ["connect", "EPRIVATE"]);
    assert.equal(smtp.connections, 0, "the SMTP server never saw a TCP connection");
    assert.equal(smtp.received.length, 0);
  });
}

test("control: the server's connection counter does count a direct connection", async () => {
  const { connect } = await import("node:net");
  await new Promise<void>((resolve, reject) => {
    const socket = connect(smtp.port, "127.0.0.1", () => {
      socket.destroy();
      resolve();
    });
    socket.once("error", reject);
  });
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(smtp.connections, 1);
});
