// SmtpConfig + rendered email → what nodemailer sends. Normally pre-composed in one pass
// (compose.ts); nodemailer's own composer is the fallback for what ours does not handle.
import type Mail from "nodemailer/lib/mailer";
import MailComposer from "nodemailer/lib/mail-composer";
import type { SmtpConfig } from "../smtp-config/model.ts";
import type { RenderedEmail } from "../templates/index.ts";
import { composeMessage, ComposeError, headerText } from "./compose.ts";

export interface OutgoingMessage {
  mail: Mail.Options;
  /** Known up front on the fast path; otherwise nodemailer reports it after sending. */
  messageId?: string;
}

/**
 * The message as nodemailer should send it: pre-composed (raw) on the fast path, or as
 * fields for nodemailer's own composer when a header needs more than our composer handles.
 */
export function toMessage(config: SmtpConfig, to: string, email: RenderedEmail): OutgoingMessage {
  const input = {
    from: config.fromName ? { name: config.fromName, address: config.fromEmail } : { address: config.fromEmail },
    to,
    replyTo: config.replyTo,
    subject: email.subject,
    html: email.html,
    text: email.text,
    headers: email.headers,
  };
  try {
    const composed = composeMessage(input);
    // messageId too: otherwise nodemailer spends random bytes on an id it never sends.
    return { mail: { envelope: composed.envelope, raw: composed.raw, messageId: composed.messageId }, messageId: composed.messageId };
  } catch (err) {
    if (!(err instanceof ComposeError)) throw err;
    // nodemailer quotes or encodes names itself; controls go first, as on the fast path.
    const from = input.from.name ? { name: headerText(input.from.name), address: input.from.address } : input.from;
    return { mail: { ...input, from, subject: headerText(input.subject), textEncoding: "quoted-printable" } };
  }
}

/** The bytes to send, from either form `toMessage` returns. */
export async function toRaw(message: OutgoingMessage): Promise<{ raw: Buffer; messageId: string; envelope: { from: string; to: string[] } }> {
  const { mail } = message;
  if (Buffer.isBuffer(mail.raw) && mail.envelope && message.messageId) {
    const envelope = mail.envelope as { from: string; to: string[] };
    return { raw: mail.raw, messageId: message.messageId, envelope };
  }
  const node = new MailComposer(mail).compile();
  const raw = await new Promise<Buffer>((resolve, reject) => node.build((err, built) => (err ? reject(err) : resolve(built))));
  const envelope = node.getEnvelope();
  return { raw, messageId: node.messageId(), envelope: { from: envelope.from || "", to: envelope.to } };
}

