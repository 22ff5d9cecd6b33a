// A pre-composed message (compose.ts: bytes, envelope, Message-ID) straight to the pooled
// transport. nodemailer's `sendMail` composes every message, a pre-composed one too: a MimeNode
// per message (random bytes, header normalising, address parsing, IDN conversion) and a stream
// pipeline to read the bytes back out, about 80 µs of CPU per email, 14 % of a worker's (the
// benchmark's profile). The pool needs none of it: this hands it the message through the
// Transport interface nodemailer's own Mailer uses, `transport.send(mail, callback)` with
// `mail.data` (our options: the send's abort, send-abort.ts) and `mail.message` (envelope, Message-ID, a
// stream of the bytes). The SMTP session, dot-stuffing, pooling, requeueing and aborts are
// nodemailer's, exactly as through `sendMail`.
import { Readable } from "node:stream";
import type Mail from "nodemailer/lib/mailer";
import type SMTPPool from "nodemailer/lib/smtp-pool";
import type { PooledTransport } from "./transport-pool.ts";
import type { SendAbort } from "./send-abort.ts";

export interface Precomposed {
  raw: Buffer;
  envelope: { from: string; to: string[] };
  /** With its angle brackets, as in the header. */
  messageId: string;
}

/** The pre-composed form of nodemailer options, when they are that (toMessage's fast path). */
export function precomposed(mail: Mail.Options): Precomposed | undefined {
  const envelope = mail.envelope as Precomposed["envelope"] | undefined;
  if (!Buffer.isBuffer(mail.raw) || !envelope || !Array.isArray(envelope.to) || typeof envelope.from !== "string" || !mail.messageId) return undefined;
  return { raw: mail.raw, envelope, messageId: mail.messageId };
}

/** The pool's view of one message: what nodemailer's MimeNode would answer for it. */
interface PoolMessage {
  getEnvelope(): { from: string; to: string[] };
  messageId(): string;
  getHeader(name: string): string | undefined;
  createReadStream(): Readable;
}

export function sendPrecomposed(transport: PooledTransport, message: Precomposed, signal: SendAbort): Promise<SMTPPool.SentMessageInfo> {
  const { raw, envelope, messageId } = message;
  const poolMessage: PoolMessage = {
    getEnvelope: () => ({ from: envelope.from, to: envelope.to.slice() }),
    messageId: () => messageId,
    getHeader: (name) => (name.toLowerCase() === "message-id" ? messageId : undefined),
    createReadStream: () => {
      const stream = new Readable({ read() {} });
      stream.push(raw);
      stream.push(null);
      return stream;
    },
  };
  const pool = transport.transporter as unknown as { send(mail: { data: { signal: SendAbort }; message: PoolMessage }, callback: (err: Error | null, info: SMTPPool.SentMessageInfo) => void): boolean };
  return new Promise((resolve, reject) => {
    pool.send({ data: { signal }, message: poolMessage }, (err, info) => (err ? reject(err) : resolve(info)));
  });
}
