// With private targets not allowed (the production default), nothing connects to a loopback or
// private address, even when a stored config's host name starts resolving to one after it
// was saved (simulated here by storing configs directly, past the PUT validation). The same
// holds for token URLs, IP literals included, and a stored http: token URL is never fetched.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHarness, passwordConfig, waitForJobState, type Harness, enqueue } from "../helpers/harness.ts";
import { startTestSmtpServer, type TestSmtpServer } from "../helpers/smtp-server.ts";
import type { SmtpConfig } from "../../src/smtp-config/model.ts";
import { startHostileTokenPeer } from "../helpers/peers/token.ts";

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

// IPv6 spellings of loopback: Node never calls lookup() for an IP literal, so these reach only
// the literal check; the hex-mapped form is how a URL parser writes ::ffff:127.0.0.1.
for (const host of ["::ffff:7f00:1", "::ffff:127.0.0.1", "64:ff9b::7f00:1", "::1"]) {
  test(`PUT refuses the IPv6 loopback form ${host}, and a stored one fails at connect without connecting`, async () => {
    const res = await h.app.inject({ method: "PUT", url: "/v1/projects/v6/smtp-config", headers: h.auth, payload: { ...passwordConfig(smtp.port, "mailer", "pw-private"), host } });
    assert.equal(res.statusCode, 400, res.body);
    assert.match(res.body, /private or loopback/);
    const projectId = `v6-${host.replace(/\W/g, "")}`;
    const connectionsBefore = smtp.connections;
    await h.services.store.put(projectId, { ...passwordConfig(smtp.port, "mailer", "pw-private"), host } as unknown as SmtpConfig);
    const tested = await h.app.inject({ method: "POST", url: `/v1/projects/${projectId}/smtp-config/test`, headers: h.auth, payload: { to: "ops@example.com" } });
    assert.deepEqual([tested.json().stage, tested.json().code], ["connect", "EPRIVATE"]);
    assert.equal(smtp.connections, connectionsBefore, "no TCP connection was made");
  });
}

/** An OAuth config stored past PUT validation (as one saved while private targets were allowed). */
async function storeOAuth(projectId: string, tokenUrl: string): Promise<void> {
  await h.services.store.put(projectId, {
    host: "smtp.example.com", port: 587, secure: true, fromEmail: "a@example.com",
    auth: { type: "oauth", clientId: "app", clientSecret: "cs-private-target", tokenUrl, scope: "s" },
  });
}

test("a stored http:// token URL is refused at fetch time: no connection, no request, the secret never sent", async () => {
  const peer = await startHostileTokenPeer();
  try {
    await storeOAuth("http-token", `${peer.base}/expires/3600`);
    const tested = await h.app.inject({ method: "POST", url: "/v1/projects/http-token/smtp-config/test", headers: h.auth, payload: { to: "ops@example.com" } });
    assert.equal(tested.statusCode, 422, tested.body);
    assert.deepEqual([tested.json().stage, tested.json().code], ["token", "insecure_token_url"]);
    assert.match(tested.json().hint, /https/);
    const [id] = await enqueue(h, { type: "incident", projectId: "http-token", to: ["ops@example.com"], data: { incidentId: "1", title: "t", state: "created", severity: "s" } });
    const failed = await waitForJobState(h, id!, ["failed"]);
    assert.equal(failed.attempts, 1, "permanent");
    assert.match(failed.failedReason ?? "", /^\[token\] insecure_token_url/);
    assert.equal(peer.connections, 0, "the endpoint never saw a TCP connection");
    assert.equal(peer.requests.length, 0);
  } finally {
    await peer.close();
  }
});

for (const host of ["127.0.0.1", "[::ffff:7f00:1]", "[::1]", "localhost"]) {
  test(`a stored https token URL on ${host} is refused before any connection (EPRIVATE)`, async () => {
    const peer = await startHostileTokenPeer();
    try {
      const port = new URL(peer.base).port;
      const projectId = `https-${host.replace(/\W/g, "")}`;
      await storeOAuth(projectId, `https://${host}:${port}/expires/3600`);
      const tested = await h.app.inject({ method: "POST", url: `/v1/projects/${projectId}/smtp-config/test`, headers: h.auth, payload: { to: "ops@example.com" } });
      assert.deepEqual([tested.json().stage, tested.json().code], ["token", "EPRIVATE"], tested.body);
      assert.equal(peer.connections, 0, "refused before dialling, not after");
    } finally {
      await peer.close();
    }
  });
}
