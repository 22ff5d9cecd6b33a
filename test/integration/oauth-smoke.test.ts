import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHarness, eventually, type Harness } from "../helpers/harness.ts";
import { startTestSmtpServer, type TestSmtpServer } from "../helpers/smtp-server.ts";
import { startTokenServer, type TestTokenServer } from "../helpers/token-server.ts";

let h: Harness;
let smtp: TestSmtpServer;
let tokens: TestTokenServer;

before(async () => {
  h = await createHarness("oauth-smoke");
  tokens = await startTokenServer({ client: { id: "app-1", secret: "cs-very-secret" } });
  smtp = await startTestSmtpServer({ xoauth2: (user, token) => tokens.isValid(user, token) });
});
after(async () => {
  await h.close();
  await smtp.close();
  await tokens.close();
});

test("client credentials: delivered over XOAUTH2 with the issued token", async () => {
  const put = await h.app.inject({
    method: "PUT", url: "/v1/projects/ms/smtp-config", headers: h.auth,
    payload: { host: "localhost", port: smtp.port, fromEmail: "alerts@contoso.test",
      auth: { type: "oauth", clientId: "app-1", clientSecret: "cs-very-secret", tokenUrl: tokens.url, scope: "https://outlook.office365.com/.default" } },
  });
  assert.equal(put.statusCode, 200, put.body);
  const res = await h.app.inject({ method: "POST", url: "/v1/emails", headers: h.auth,
    payload: { type: "alert", projectId: "ms", to: ["a@example.com", "b@example.com"], data: { alertId: "1", title: "CPU", state: "created", severity: "high" } } });
  assert.equal(res.statusCode, 202, res.body);
  await smtp.waitForCount(2);
  assert.equal(tokens.requests.length, 1);
  assert.equal(tokens.requests[0]!.clientAuth, "post");
  const ok = smtp.authAttempts.filter((a) => a.method === "XOAUTH2" && a.ok);
  assert.ok(ok.length >= 1);
  assert.equal(ok[0]!.user, "alerts@contoso.test");
  const { jobs } = res.json() as { jobs: { id: string }[] };
  await eventually(async () => ((await h.services.producer.queue.getJob(jobs[0]!.id))?.returnvalue ? true : undefined));
});
