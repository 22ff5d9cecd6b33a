// The one-pass composer against a real MIME parser (mailparser): what goes in comes out.
import { test } from "node:test";
import assert from "node:assert/strict";
import { simpleParser } from "mailparser";
import { composeMessage, ComposeError } from "../../src/delivery/compose.ts";
import { toMessage } from "../../src/delivery/message.ts";
import type { SmtpConfig } from "../../src/smtp-config/model.ts";

const base = {
  from: { name: "Acme Status", address: "status@acme.test" },
  to: "ops@example.com",
  subject: "[Incident #42] New: API is down",
  text: "The API is down.\nWe are on it.",
  html: "<p>The API is down.</p>",
  headers: {},
};

test("an ASCII email: 7bit parts, CRLF line ends, headers as given", async () => {
  const { raw, messageId, envelope } = composeMessage({ ...base, replyTo: "help@acme.test", headers: { "List-Unsubscribe": "<https://acme.test/u/1>" } }, new Date("2026-11-25T10:00:00Z"));
  const source = raw.toString("utf8");
  assert.ok(!/[^\r]\n/.test(source), "every line ends with CRLF");
  assert.match(source, /Content-Transfer-Encoding: 7bit/);
  assert.match(source, /^Date: Wed, 25 Nov 2026 10:00:00 \+0000\r$/m);
  assert.deepEqual(envelope, { from: "status@acme.test", to: ["ops@example.com"] });
  const mail = await simpleParser(raw);
  assert.equal(mail.subject, base.subject);
  assert.deepEqual(mail.from?.value[0], { address: "status@acme.test", name: "Acme Status" });
  assert.equal(mail.to && !Array.isArray(mail.to) ? mail.to.text : "", "ops@example.com");
  assert.equal(mail.replyTo?.text, "help@acme.test");
  assert.equal(mail.messageId, messageId);
  assert.equal(mail.text, "The API is down.\nWe are on it.");
  assert.equal(mail.html, "<p>The API is down.</p>");
  assert.equal(mail.headerLines.find((h) => h.key === "list-unsubscribe")?.line, "List-Unsubscribe: <https://acme.test/u/1>");
});

test("non-ASCII subject, sender name and bodies survive encoding", async () => {
  const subject = `Störung: Datenbank 🚨 ${"lang ".repeat(30)}`.trim();
  const { raw } = composeMessage({ ...base, subject, from: { name: 'Ünïcode "Status"', address: "s@acme.test" }, text: "Grüße aus Köln", html: "<p>日本語</p>" });
  const source = raw.toString("utf8");
  assert.match(source, /Content-Transfer-Encoding: base64/);
  assert.ok(source.split("\r\n").every((line) => line.length <= 998), "no line longer than 998");
  const mail = await simpleParser(raw);
  assert.equal(mail.subject, subject);
  assert.equal(mail.from?.value[0]?.name, 'Ünïcode "Status"');
  assert.equal(mail.text, "Grüße aus Köln");
  assert.equal(mail.html, "<p>日本語</p>");
});

test("a quoted ASCII display name keeps its quotes and backslashes", async () => {
  const { raw } = composeMessage({ ...base, from: { name: 'Acme "Ops" \\ Team', address: "s@acme.test" } });
  assert.equal((await simpleParser(raw)).from?.value[0]?.name, 'Acme "Ops" \\ Team');
});

test("very long lines are base64 encoded instead of breaking the 998 limit", async () => {
  const html = `<p>${"x".repeat(5000)}</p>`;
  const { raw } = composeMessage({ ...base, html });
  assert.ok(raw.toString("utf8").split("\r\n").every((line) => line.length <= 998));
  assert.equal((await simpleParser(raw)).html, html);
});

test("CR/LF can never start a new header", async () => {
  const { raw } = composeMessage({ ...base, subject: "a\r\nBcc: evil@x.test" });
  const mail = await simpleParser(raw);
  assert.equal(mail.headers.get("bcc"), undefined);
  assert.equal(mail.subject, "a Bcc: evil@x.test");
});

test("what the composer does not handle falls back to nodemailer's composer", () => {
  assert.throws(() => composeMessage({ ...base, headers: { "List-Unsubscribe": "<https://acme.test/ü>" } }), ComposeError);
  const config: SmtpConfig = { host: "h", port: 587, secure: true, fromEmail: "status@acme.test" };
  const fast = toMessage(config, "ops@example.com", { subject: "s", text: "t", html: "h", headers: {} });
  assert.ok(Buffer.isBuffer(fast.mail.raw));
  assert.match(fast.messageId ?? "", /^<.+@acme\.test>$/);
  const fallback = toMessage(config, "ops@example.com", { subject: "s", text: "t", html: "h", headers: { "List-Unsubscribe": "<https://acme.test/ü>" } });
  assert.equal(fallback.mail.raw, undefined);
  assert.equal(fallback.mail.subject, "s");
});

test("message ids are unique", () => {
  const ids = new Set(Array.from({ length: 1000 }, () => composeMessage(base).messageId));
  assert.equal(ids.size, 1000);
});

test("the Date header follows the clock: a second's text is reused, the next second gets its own", () => {
  const date = (iso: string) => /^Date: (.*)\r$/m.exec(composeMessage(base, new Date(iso)).raw.toString("utf8"))?.[1];
  assert.equal(date("2026-11-25T10:00:00.100Z"), "Wed, 25 Nov 2026 10:00:00 +0000");
  assert.equal(date("2026-11-25T10:00:00.900Z"), "Wed, 25 Nov 2026 10:00:00 +0000");
  assert.equal(date("2026-11-25T10:00:01.000Z"), "Wed, 25 Nov 2026 10:00:01 +0000");
  assert.equal(date("2026-11-24T10:00:01.000Z"), "Tue, 24 Nov 2026 10:00:01 +0000");
});
