import { test } from "node:test";
import assert from "node:assert/strict";
import Fastify from "fastify";
import nodemailer, { type SendMailOptions } from "nodemailer";
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

async function inboxWithMail(t: { after(fn: () => unknown): void }, mails: SendMailOptions[], options: Parameters<typeof startDevInbox>[0] = {}) {
  const inbox = await startDevInbox(options);
  t.after(() => inbox.close());
  const transport = nodemailer.createTransport({ host: inbox.host, port: inbox.port, secure: false, ignoreTLS: true });
  t.after(() => transport.close());
  for (const mail of mails) await transport.sendMail(mail);
  const app = Fastify();
  t.after(() => app.close());
  await app.register(devInboxRoutes, { inbox });
  return { inbox, app };
}

test("raw source and headers: the exact bytes as text, never rendered; every header listed, escaped", async (t) => {
  const { inbox, app } = await inboxWithMail(t, [{
    from: "status@example.com", to: "ops@example.com", subject: "Raw <i>view</i>",
    html: "<p>hi</p>", text: "hi", headers: { "X-Trace": "<script>alert(1)</script>" },
  }]);
  const [message] = inbox.list();
  assert.ok(message);

  const raw = await app.inject({ method: "GET", url: `/dev/inbox/${message.id}/raw` });
  assert.equal(raw.statusCode, 200);
  assert.match(String(raw.headers["content-type"]), /^text\/plain; charset=utf-8/);
  assert.equal(raw.headers["content-security-policy"], "sandbox; default-src 'none'");
  assert.equal(raw.headers["x-content-type-options"], "nosniff");
  assert.deepEqual(raw.rawPayload, message.raw);
  assert.match(raw.body, /^X-Trace: <script>alert\(1\)<\/script>\r$/m, "the source as sent");

  const view = await app.inject({ method: "GET", url: `/dev/inbox/${message.id}` });
  assert.ok(view.body.includes(`<a href="/dev/inbox/${message.id}/raw">Raw source</a>`));
  assert.match(view.body, /<td>x-trace<\/td><td>&lt;script&gt;alert\(1\)&lt;\/script&gt;<\/td>/);
  assert.match(view.body, /<td>message-id<\/td><td>&lt;[^<]+@[^<]+&gt;<\/td>/);
  assert.match(view.body, new RegExp(`<time datetime="${message.receivedAt}" data-full="true">`));
  assert.equal((await app.inject({ method: "GET", url: "/dev/inbox/nope/raw" })).statusCode, 404);
});

test("the pages' only script is a same-origin file: no inline script, CSP allows 'self' scripts only", async (t) => {
  const { app } = await inboxWithMail(t, [{ from: "a@example.com", to: "b@example.com", subject: "s", text: "t" }]);
  const list = await app.inject({ method: "GET", url: "/dev/inbox" });
  const csp = String(list.headers["content-security-policy"]);
  assert.match(csp, /(^|; )script-src 'self'(;|$)/);
  assert.match(csp, /(^|; )connect-src 'self'(;|$)/);
  assert.match(csp, /(^|; )form-action 'self'(;|$)/);
  assert.match(csp, /(^|; )frame-ancestors 'none'(;|$)/);
  assert.doesNotMatch(csp, /unsafe-eval|script-src[^;]*unsafe-inline/);
  const scripts = [...list.body.matchAll(/<script\b[^>]*>/g)].map((m) => m[0]);
  assert.deepEqual(scripts, ['<script src="/dev/inbox/assets/inbox.js" defer>']);
  assert.match(list.body, /<time datetime="[^"]+Z">/, "times carry their ISO value for the script");
  assert.match(list.body, /data-inbox-latest="[0-9a-f]+" data-inbox-count="1"/, "what the script polls against");
  const js = await app.inject({ method: "GET", url: "/dev/inbox/assets/inbox.js" });
  assert.equal(js.statusCode, 200);
  assert.match(String(js.headers["content-type"]), /^text\/javascript/);
  assert.match(js.body, /Intl\.RelativeTimeFormat/);
  assert.match(js.body, /location\.reload\(\)/);
  // The script must parse (it is served as-is, never built).
  assert.doesNotThrow(() => new Function(js.body));
});

test("search by recipient or subject, in the page and in JSON", async (t) => {
  const { app } = await inboxWithMail(t, [
    { from: "a@example.com", to: "alice@acme.test", subject: "Disk full on db-1", text: "1" },
    { from: "a@example.com", to: "bob@other.test", subject: "API latency", text: "2" },
  ]);
  const subjects = async (q: string) =>
    ((await app.inject({ method: "GET", url: `/dev/inbox?format=json&q=${encodeURIComponent(q)}` })).json() as { messages: { subject: string }[] }).messages.map((m) => m.subject);
  assert.deepEqual(await subjects("ACME.test"), ["Disk full on db-1"], "by recipient, case-insensitive");
  assert.deepEqual(await subjects("latency"), ["API latency"], "by subject");
  assert.deepEqual(await subjects(""), ["API latency", "Disk full on db-1"]);
  assert.deepEqual(await subjects("nothing-like-this"), []);
  const page = await app.inject({ method: "GET", url: "/dev/inbox?q=%3Cb%3E" });
  assert.ok(page.body.includes('value="&lt;b&gt;"'), "the query is escaped back into the form");
  assert.ok(page.body.includes("No message matches “&lt;b&gt;”."));
  assert.ok(page.body.includes("0 of 2 messages"));
});

test("clear: the page's form empties the inbox and comes back to the list; cross-site requests are refused", async (t) => {
  const { inbox, app } = await inboxWithMail(t, [{ from: "a@example.com", to: "b@example.com", subject: "keep me", text: "t" }]);
  const form = { "content-type": "application/x-www-form-urlencoded", host: "127.0.0.1:3000" };
  const foreign = await app.inject({ method: "POST", url: "/dev/inbox/clear", headers: { ...form, "sec-fetch-site": "cross-site" }, payload: "" });
  assert.equal(foreign.statusCode, 403);
  const otherOrigin = await app.inject({ method: "POST", url: "/dev/inbox/clear", headers: { ...form, origin: "https://evil.example" }, payload: "" });
  assert.equal(otherOrigin.statusCode, 403);
  assert.equal(inbox.list().length, 1, "nothing cleared");

  const cleared = await app.inject({ method: "POST", url: "/dev/inbox/clear", headers: { ...form, origin: "http://127.0.0.1:3000", "sec-fetch-site": "same-origin" }, payload: "" });
  assert.equal(cleared.statusCode, 303);
  assert.equal(cleared.headers.location, "/dev/inbox");
  assert.equal(inbox.list().length, 0);
  const page = await app.inject({ method: "GET", url: "/dev/inbox" });
  assert.match(page.body, /No messages yet/);
  assert.match(page.body, /<button type="submit" disabled>Clear inbox<\/button>/);

  const transport = nodemailer.createTransport({ host: inbox.host, port: inbox.port, secure: false, ignoreTLS: true });
  t.after(() => transport.close());
  await transport.sendMail({ from: "a@example.com", to: "b@example.com", subject: "again", text: "t" });
  assert.equal((await app.inject({ method: "DELETE", url: "/dev/inbox" })).statusCode, 204);
  assert.equal(inbox.list().length, 0);
});

test("a taken port: anyPortIfTaken moves to a free one, otherwise start fails; the byte budget drops the oldest", async (t) => {
  const first = await startDevInbox({});
  t.after(() => first.close());
  await assert.rejects(startDevInbox({ port: first.port }), /EADDRINUSE/);
  const second = await startDevInbox({ port: first.port, anyPortIfTaken: true });
  t.after(() => second.close());
  assert.notEqual(second.port, first.port);

  const { inbox } = await inboxWithMail(t, [1, 2, 3].map((n) => ({ from: "a@example.com", to: "b@example.com", subject: `big${n}`, text: "x".repeat(4000) })), { maxTotalBytes: 9000 });
  assert.deepEqual(inbox.list().map((m) => m.subject), ["big3", "big2"]);
});
