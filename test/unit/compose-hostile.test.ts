// The composer against hostile template text and config values, checked with two real parsers
// (mailparser, nodemailer's addressparser): a body cannot close its MIME part and add its own,
// and no name or subject can add an address or a header, whatever control characters it holds.
import { test } from "node:test";
import assert from "node:assert/strict";
import { simpleParser, type ParsedMail } from "mailparser";
import addressparser from "nodemailer/lib/addressparser";
import { composeMessage, type ComposeInput } from "../../src/delivery/compose.ts";
import { toMessage, toRaw } from "../../src/delivery/message.ts";
import { renderEmail } from "../../src/templates/index.ts";
import type { SmtpConfig } from "../../src/smtp-config/model.ts";

const base: ComposeInput = {
  from: { name: "Acme Status", address: "status@acme.test" },
  to: "ops@example.com",
  subject: "[Incident #42] New: API is down",
  text: "The API is down.",
  html: "<p>The API is down.</p>",
  headers: {},
};

const config: SmtpConfig = { host: "smtp.acme.test", port: 587, secure: true, fromEmail: "status@acme.test", fromName: "Acme Status" };

function boundaryOf(raw: Buffer): string {
  const match = /boundary="([^"]+)"/.exec(raw.toString("utf8"));
  assert.ok(match, "a multipart boundary");
  return match[1]!;
}

/** The header section, raw (up to the first empty line). */
function headerSection(raw: Buffer): string {
  const source = raw.toString("latin1");
  return source.slice(0, source.indexOf("\r\n\r\n"));
}

/** Every part mailparser found: the text, the HTML and anything else (attachments). */
function parts(mail: ParsedMail): { text: string | undefined; html: string | false; attachments: number } {
  const lf = (v: string) => v.replace(/\r\n/g, "\n").trimEnd();
  return { text: mail.text === undefined ? undefined : lf(mail.text), html: typeof mail.html === "string" ? lf(mail.html) : false, attachments: mail.attachments.length };
}

test("the boundary is random per message: 1000 messages, 1000 boundaries, none derived from the Message-ID", () => {
  const seen = new Set<string>();
  for (let i = 0; i < 1000; i++) {
    const { raw, messageId } = composeMessage(base);
    const boundary = boundaryOf(raw);
    seen.add(boundary);
    // Neither the time nor the per-process part of the id (the counter is too short to check).
    const [time, , processPart] = messageId.slice(1, messageId.indexOf("@")).split(".");
    for (const piece of [time!, processPart!]) assert.ok(!boundary.includes(piece), `boundary ${boundary} contains ${piece} of ${messageId}`);
    // 18 random bytes: 24 base64url characters after the fixed prefix.
    assert.match(boundary, /^=_notify_[A-Za-z0-9_-]{24}$/);
  }
  assert.equal(seen.size, 1000);
});

test("the old attack: a description with the boundary predicted from the previous Message-ID adds no part", async () => {
  // Before, the boundary was "--_notify_" + the Message-ID's unique part (time.counter.process),
  // so one received email predicted the next: this is that guess, for every millisecond the
  // next message could be composed in, and the next counter value.
  const previous = composeMessage(base).messageId;
  const [, counter, processPart] = previous.slice(1, previous.indexOf("@")).split(".");
  const next = (parseInt(counter!, 36) + 1).toString(36);
  const evil = "<script>steal()</script><h1>Your account is locked</h1>";
  const started = Date.now();
  const guesses: string[] = [];
  for (let t = started; t <= started + 50; t++) guesses.push(`--_notify_${t.toString(36)}.${next}.${processPart}`);
  const description = guesses.map((b) => `--${b}\nContent-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: 7bit\n\n${evil}`).join("\n") + `\n--${guesses[0]}--`;
  const email = renderEmail({ type: "incident", projectId: "p", to: "ops@example.com", enqueuedAt: 0, data: { incidentId: "1", title: "Down", state: "created", severity: "critical", description } });
  const { raw } = await toRaw(toMessage(config, "ops@example.com", email));
  assert.ok(Date.now() <= started + 50, "composed within the guessed window");
  const mail = await simpleParser(raw);
  assert.equal(mail.attachments.length, 0, "no extra part");
  assert.ok(typeof mail.html === "string" && !mail.html.includes("<script>"), `the HTML part is ours, not the sender's: ${String(mail.html).slice(0, 200)}`);
  assert.ok(mail.html.includes("&lt;script&gt;steal()&lt;/script&gt;"), "the sender's HTML stays escaped text");
  assert.ok(mail.text?.includes(evil), "the text part carries the description as text");
});

test("a body that contains the message's own boundary lines (as far as it can know them) cannot add a part", async () => {
  // The strongest a sender can do: copy the boundary of an email it received, and its shape.
  const seen = boundaryOf(composeMessage(base).raw);
  const forged = `--${seen}\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<b>forged</b>\r\n--${seen}--`;
  for (const input of [{ ...base, text: forged }, { ...base, html: forged }, { ...base, text: forged, html: forged }]) {
    const { raw } = composeMessage(input);
    assert.notEqual(boundaryOf(raw), seen);
    const got = parts(await simpleParser(raw));
    assert.deepEqual(got, { text: input.text.replace(/\r\n/g, "\n"), html: input.html.replace(/\r\n/g, "\n"), attachments: 0 });
  }
});

const HOSTILE_NAMES = [
  "\tCEO <ceo@victim.test>, Real",
  "CEO <ceo@victim.test>,\u0000Real",
  "\u001b[31mCEO\u001b[0m <ceo@victim.test>, Real",
  "CEO\r\nBcc: evil@x.test",
  "CEO\rBcc: evil@x.test",
  "CEO\nBcc: evil@x.test",
  '"CEO" <ceo@victim.test>, "Real',
  'Back\\slash\\" <ceo@victim.test>, x',
  "Ünïcode\t<ceo@victim.test>, Real",
  "CEO\u0085<ceo@victim.test>;Real\u009b",
  "=?UTF-8?B?Q0VPIDxjZW9AdmljdGltLnRlc3Q+LCBSZWFs?=",
];

for (const name of HOSTILE_NAMES) {
  test(`fromName ${JSON.stringify(name)} stays one name of one address (fast path and nodemailer's composer)`, async () => {
    const fast = await toRaw(toMessage({ ...config, fromName: name }, "ops@example.com", { subject: "s", text: "t", html: "h", headers: {} }));
    // A non-ASCII header value sends the message through nodemailer's composer instead.
    const slow = await toRaw(toMessage({ ...config, fromName: name }, "ops@example.com", { subject: "s", text: "t", html: "h", headers: { "X-Test": "ü" } }));
    for (const [path, { raw }] of [["fast", fast], ["nodemailer", slow]] as const) {
      const headers = headerSection(raw);
      assert.ok(!/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/.test(headers), `${path}: no raw control byte in the headers`);
      assert.ok(!/\r(?!\n)|(?<!\r)\n/.test(headers), `${path}: CR and LF only as CRLF`);
      assert.ok(!/^bcc:/im.test(headers), `${path}: no Bcc header`);
      const fromLine = /^From: (.*(?:\r\n[ \t].*)*)/m.exec(headers)?.[1] ?? "";
      const parsed = addressparser(fromLine.replace(/\r\n/g, ""), { flatten: true });
      assert.deepEqual(parsed.map((a) => a.address), ["status@acme.test"], `${path}: addressparser finds one address in ${JSON.stringify(fromLine)}`);
      const mail = await simpleParser(raw);
      assert.deepEqual(mail.from?.value.map((a) => a.address), ["status@acme.test"], `${path}: mailparser finds one address`);
      assert.equal(mail.headers.get("bcc"), undefined);
      assert.ok(!/[\x00-\x1f\x7f-\x9f]/.test(mail.from?.value[0]?.name ?? ""), `${path}: no control in the shown name`);
      const shown = mail.from?.value[0]?.name ?? "";
      const expected = name.replace(/[\x00-\x1f\x7f-\x9f]+/g, " ").trim();
      // nodemailer quotes an ASCII "=?…?=" name, and mailparser decodes encoded words even in
      // quotes: a different display, still one address. Our composer encodes such a name.
      if (path === "fast" || !name.includes("=?")) {
        assert.equal(shown.replace(/\s+/g, " "), expected.replace(/\s+/g, " "), `${path}: the name is shown as written, controls aside`);
      }
    }
  });
}

test("a subject with TAB, NUL, ESC, CR/LF and a fake encoded word: one Subject header, no control bytes, shown as written", async () => {
  const subject = "Down\t\u0000now\u001b[2J\r\nBcc: evil@x.test =?UTF-8?B?ZXZpbA==?=";
  const { raw } = composeMessage({ ...base, subject });
  const headers = headerSection(raw);
  assert.ok(!/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/.test(headers));
  assert.ok(!/^bcc:/im.test(headers));
  const mail = await simpleParser(raw);
  assert.equal(mail.headers.get("bcc"), undefined);
  assert.equal(mail.subject, "Down now [2J Bcc: evil@x.test =?UTF-8?B?ZXZpbA==?=");
});

test("a non-ASCII unsubscribeUrl becomes an ASCII List-Unsubscribe (punycode host, percent-encoded path) on the fast path", async () => {
  const email = renderEmail({
    type: "status-page", projectId: "p", to: "ops@example.com", enqueuedAt: 0,
    data: { statusPageId: "s", statusPageName: "Bücher", kind: "announcement", title: "Hallo", body: "Text", unsubscribeUrl: "https://bücher.de/abmelden?wer=jürgen" },
  });
  assert.equal(email.headers["List-Unsubscribe"], "<https://xn--bcher-kva.de/abmelden?wer=j%C3%BCrgen>");
  const message = toMessage(config, "ops@example.com", email);
  assert.ok(Buffer.isBuffer(message.mail.raw), "composed by our composer, not the fallback");
  const mail = await simpleParser(message.mail.raw as Buffer);
  assert.equal(mail.headerLines.find((h) => h.key === "list-unsubscribe")?.line, "List-Unsubscribe: <https://xn--bcher-kva.de/abmelden?wer=j%C3%BCrgen>");
  assert.equal(mail.headerLines.find((h) => h.key === "list-unsubscribe-post")?.line, "List-Unsubscribe-Post: List-Unsubscribe=One-Click");
  assert.ok(typeof mail.html === "string" && mail.html.includes('href="https://xn--bcher-kva.de/abmelden?wer=j%C3%BCrgen"'), "the link in the HTML is the same URL");
});
