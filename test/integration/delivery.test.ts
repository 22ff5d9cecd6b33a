// The spine end to end: enqueue over HTTP → Redis → worker → a real SMTP server (STARTTLS,
// PLAIN auth, a certificate verified against the test CA).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHarness, eventually, type Harness, passwordConfig, putConfig } from "../helpers/harness.ts";
import { startTestSmtpServer, type TestSmtpServer } from "../helpers/smtp-server.ts";

let h: Harness;
let smtp: TestSmtpServer;

before(async () => {
  h = await createHarness("delivery");
  smtp = await startTestSmtpServer({ password: { user: "mailer", pass: "s3cret-pass" } });
  await putConfig(h, "p1", passwordConfig(smtp.port, "mailer", "s3cret-pass"));
});

after(async () => {
  await h.close();
  await smtp.close();
});

test("an enqueued incident arrives with From, To, Subject, HTML and text; the job keeps the messageId", async () => {
  const res = await h.app.inject({
    method: "POST",
    url: "/v1/emails",
    headers: h.auth,
    payload: {
      type: "incident", projectId: "p1", to: ["oncall@example.com"],
      data: { incidentId: "42", title: "API <down>", state: "created", severity: "critical", monitors: ["api.acme.test"] },
    },
  });
  assert.equal(res.statusCode, 202, res.body);
  const { jobs } = res.json() as { jobs: { id: string; to: string }[] };
  assert.equal(jobs.length, 1);
  await smtp.waitForCount(1);
  const { mail, to, user } = smtp.received[0]!;
  assert.equal(user, "mailer");
  assert.deepEqual(to, ["oncall@example.com"]);
  assert.equal(mail.from?.value[0]?.address, "status@acme.test");
  assert.equal(mail.from?.value[0]?.name, "Acme Status");
  assert.match(mail.subject ?? "", /API <down>/);
  assert.match(String(mail.html), /API &lt;down&gt;/);
  assert.match(mail.text ?? "", /api\.acme\.test/);

  const job = await eventually(async () => {
    const r = await h.app.inject({ method: "GET", url: `/v1/jobs/${jobs[0]!.id}`, headers: h.auth });
    const body = r.json() as { state: string; result?: { messageId: string; response: string } };
    return body.state === "completed" ? body : undefined;
  });
  assert.equal(job.result?.messageId, mail.messageId);
  assert.match(job.result?.response ?? "", /^250/);
});
