import { test } from "node:test";
import assert from "node:assert/strict";
import Fastify from "fastify";
import nodemailer from "nodemailer";
import { startDevInbox } from "../../src/dev-inbox/inbox.ts";
import { devInboxRoutes } from "../../src/http/dev-inbox.ts";

test("dev inbox receives mail over SMTP and shows it safely", async (t) => {
  const inbox = await startDevInbox({});
  t.after(() => inbox.close());
  assert.equal(inbox.url, `smtp://127.0.0.1:${inbox.port}`);

  const transport = nodemailer.createTransport({ host: inbox.host, port: inbox.port, secure: false, ignoreTLS: true });
  t.after(() => transport.close());
  await transport.sendMail({
    from: "Status <status@example.com>",
    to: "ops@example.com",
    subject: "Incident <b>#42</b> created",
    text: "Database <down> & out",
    html: "<h1>Database down</h1><script>alert(1)</script>",
  });

  const [message] = inbox.list();
  assert.ok(message);
  assert.deepEqual(message.to, ["ops@example.com"]);
  assert.equal(message.subject, "Incident <b>#42</b> created");
  assert.equal(inbox.get(message.id), message);

  const app = Fastify();
  t.after(() => app.close());
  await app.register(devInboxRoutes, { inbox });

  const list = await app.inject({ method: "GET", url: "/dev/inbox" });
  assert.equal(list.statusCode, 200);
  assert.match(String(list.headers["content-type"]), /^text\/html/);
  assert.ok(list.body.includes(`href="/dev/inbox/${message.id}"`));
  assert.ok(list.body.includes("Incident &lt;b&gt;#42&lt;/b&gt; created"));
  assert.ok(!list.body.includes("<b>#42</b>"));

  for (const request of [
    { url: "/dev/inbox", headers: { accept: "application/json" } },
    { url: "/dev/inbox?format=json", headers: {} },
  ]) {
    const json = await app.inject({ method: "GET", ...request });
    assert.equal(json.statusCode, 200);
    assert.deepEqual(json.json(), {
      messages: [{ id: message.id, receivedAt: message.receivedAt, from: message.from, to: ["ops@example.com"], subject: message.subject }],
    });
  }

  const browser = await app.inject({ method: "GET", url: "/dev/inbox", headers: { accept: "text/html,application/xhtml+xml,*/*;q=0.8" } });
  assert.match(String(browser.headers["content-type"]), /^text\/html/);

  const view = await app.inject({ method: "GET", url: `/dev/inbox/${message.id}` });
  assert.equal(view.statusCode, 200);
  assert.ok(view.body.includes(`<iframe sandbox="" src="/dev/inbox/${message.id}/html"`));
  assert.ok(view.body.includes("<pre>Database &lt;down&gt; &amp; out"));
  assert.ok(view.body.includes("status@example.com"));
  assert.ok(!view.body.includes("<script>"));

  const raw = await app.inject({ method: "GET", url: `/dev/inbox/${message.id}/html` });
  assert.equal(raw.statusCode, 200);
  assert.equal(
    raw.headers["content-security-policy"],
    "sandbox; default-src 'none'; img-src data: https:; style-src 'unsafe-inline'",
  );
  assert.equal(raw.headers["x-content-type-options"], "nosniff");
  assert.ok(raw.body.includes("<h1>Database down</h1>"));

  for (const url of ["/dev/inbox/nope", "/dev/inbox/nope/html"]) {
    const missing = await app.inject({ method: "GET", url });
    assert.equal(missing.statusCode, 404);
    assert.equal(missing.json().error.code, "not_found");
  }
});

test("dev inbox keeps only the newest maxMessages", async (t) => {
  const inbox = await startDevInbox({ maxMessages: 2 });
  t.after(() => inbox.close());
  const transport = nodemailer.createTransport({ host: inbox.host, port: inbox.port, secure: false, ignoreTLS: true });
  t.after(() => transport.close());
  for (const n of [1, 2, 3]) {
    await transport.sendMail({ from: "a@example.com", to: "b@example.com", subject: `m${n}`, text: String(n) });
  }
  assert.deepEqual(inbox.list().map((m) => m.subject), ["m3", "m2"]);
});
