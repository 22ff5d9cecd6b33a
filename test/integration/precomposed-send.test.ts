// A pre-composed message goes to the pooled transport without nodemailer's composer
// (src/delivery/precomposed-send.ts): the server must receive exactly our bytes (dot-stuffing
// undone by it, a line starting with "." included), with our envelope and Message-ID; an abort
// before the send sends nothing; the pool's answer comes back as sendMail's would.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import nodemailer from "nodemailer";
import { SMTPServer } from "smtp-server";
import { composeMessage } from "../../src/delivery/compose.ts";
import { precomposed, sendPrecomposed } from "../../src/delivery/precomposed-send.ts";
import { SendAbort } from "../../src/delivery/send-abort.ts";
import type { PooledTransport } from "../../src/delivery/transport-pool.ts";

interface Received {
  from: string;
  to: string[];
  raw: Buffer;
}

const received: Received[] = [];
let server: SMTPServer;
let port: number;
let transport: PooledTransport;

before(async () => {
  server = new SMTPServer({
    authOptional: true,
    disabledCommands: ["STARTTLS"],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("end", () => {
        received.push({ from: session.envelope.mailFrom ? session.envelope.mailFrom.address : "", to: session.envelope.rcptTo.map((r) => r.address), raw: Buffer.concat(chunks) });
        callback(null, "Queued as 1234");
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.server.address() as AddressInfo).port;
  transport = nodemailer.createTransport({ pool: true, host: "127.0.0.1", port, secure: false, ignoreTLS: true, maxConnections: 2 });
});

after(async () => {
  transport?.close();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

function compose(to: string, text: string) {
  return composeMessage({ from: { name: "Acme Status", address: "status@acme.test" }, to, subject: "Down", text, html: `<p>${text}</p>`, headers: {} });
}

test("the server receives exactly the composed bytes, envelope and Message-ID; dot-stuffing is undone", async () => {
  const composed = compose("ops@example.com", "first line\n.a line that starts with a dot\n..two dots\nlast");
  const ready = precomposed({ raw: composed.raw, envelope: composed.envelope, messageId: composed.messageId });
  assert.ok(ready);
  const info = await sendPrecomposed(transport, ready, new SendAbort());
  assert.equal(received.length, 1);
  const got = received[0]!;
  assert.equal(got.from, "status@acme.test");
  assert.deepEqual(got.to, ["ops@example.com"]);
  // smtp-server hands over the message as sent, less the final dot line; our bytes end in CRLF.
  assert.equal(got.raw.toString("utf8"), composed.raw.toString("utf8"));
  assert.match(got.raw.toString("utf8"), /\r\n\.a line that starts with a dot\r\n/);
  assert.equal(info.messageId, composed.messageId);
  assert.match(info.response, /^250 .*Queued as 1234/);
  assert.deepEqual(info.accepted, ["ops@example.com"]);
  assert.deepEqual(info.envelope, { from: "status@acme.test", to: ["ops@example.com"] });
});

test("many at once over the pool: each arrives once, intact", async () => {
  const before = received.length;
  const messages = Array.from({ length: 30 }, (_, i) => compose(`u${i}@example.com`, `message ${i}`));
  await Promise.all(messages.map((m) => sendPrecomposed(transport, precomposed({ raw: m.raw, envelope: m.envelope, messageId: m.messageId })!, new SendAbort())));
  const got = received.slice(before);
  assert.equal(got.length, 30);
  for (const m of messages) {
    const match = got.filter((r) => r.to[0] === m.envelope.to[0]);
    assert.equal(match.length, 1);
    assert.equal(match[0]!.raw.toString("utf8"), m.raw.toString("utf8"));
  }
});

test("aborted before it is sent: rejects with the abort, nothing reaches the server", async () => {
  const before = received.length;
  const m = compose("late@example.com", "never");
  const abort = new SendAbort();
  abort.abort();
  await assert.rejects(sendPrecomposed(transport, precomposed({ raw: m.raw, envelope: m.envelope, messageId: m.messageId })!, abort), (err: Error) => /abort/i.test(`${err.name} ${err.message}`));
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(received.length, before);
});

test("only the fast path's options count as pre-composed", () => {
  const m = compose("a@example.com", "x");
  assert.equal(precomposed({ raw: m.raw, envelope: m.envelope }), undefined, "no Message-ID");
  assert.equal(precomposed({ envelope: m.envelope, messageId: m.messageId, text: "x" }), undefined, "not raw bytes");
  assert.equal(precomposed({ raw: m.raw.toString(), envelope: m.envelope, messageId: m.messageId }), undefined, "a string is not pre-composed bytes");
});
