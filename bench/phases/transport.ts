// Phases without the product's queue: nodemailer straight to the sink.
//   ceiling            one pooled transport, nodemailer's own composer;
//   transport ceiling  the same transport sending messages pre-composed, before the clock, by
//                      the product's toMessage(): nodemailer's transport without composing;
//   naive peer         what a system without pooling does (OneUptime does this for OAuth
//                      configs): a new transport per email (connect, greeting, EHLO, STARTTLS,
//                      EHLO, AUTH XOAUTH2 with a token from a cache, one message, QUIT).
// Each ceiling runs over plain SMTP and over STARTTLS. The sender is the bench process itself.
import nodemailer, { type Transporter } from "nodemailer";
import type Mail from "nodemailer/lib/mailer";
import type SMTPPool from "nodemailer/lib/smtp-pool";
import type SMTPTransport from "nodemailer/lib/smtp-transport";
import { parseSmtpConfig } from "../../src/smtp-config/validate.ts";
import type { SmtpConfig } from "../../src/smtp-config/model.ts";
import { renderEmail } from "../../src/templates/index.ts";
import { toMessage } from "../../src/delivery/message.ts";
import type { EmailJobData } from "../../src/jobs/contracts.ts";
import { CEILING_INFLIGHT, CONCURRENCY, FROM_EMAIL, FROM_NAME, INCIDENT, POOL, SIZES, recipients } from "../config.ts";
import { configBody, type Context } from "../deployment.ts";
import { measure, type Throughput } from "../measure.ts";
import { SINK_PASS, SINK_USER } from "../sink-protocol.ts";

const render = (address: string) => {
  const job: EmailJobData = { type: "incident", projectId: "bench", to: address, data: INCIDENT, enqueuedAt: Date.now() };
  return renderEmail(job);
};

/** The fields someone using nodemailer alone would hand it; nodemailer composes the message. */
function fieldsFor(to: string[]): Mail.Options[] {
  return to.map((address) => {
    const email = render(address);
    return { from: { name: FROM_NAME, address: FROM_EMAIL }, to: address, subject: email.subject, html: email.html, text: email.text, headers: email.headers };
  });
}

/** Exactly what src/delivery/deliver.ts hands to nodemailer: raw bytes + envelope from toMessage(). */
function composedFor(config: SmtpConfig, to: string[]): Mail.Options[] {
  return to.map((address) => {
    const message = toMessage(config, address, render(address));
    if (!Buffer.isBuffer(message.mail.raw) || !message.messageId) {
      throw new Error(`toMessage() fell back to nodemailer's composer for ${address}: the transport ceiling would include composing`);
    }
    return message.mail;
  });
}

/** Sends `messages` through `send`, at most `inflight` at a time. */
async function sendAll(send: (message: Mail.Options) => Promise<unknown>, messages: Mail.Options[], inflight: number): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < messages.length) await send(messages[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(inflight, messages.length) }, lane));
}

function connection(ctx: Context, tls: boolean): SMTPTransport.Options {
  return tls
    ? { host: "127.0.0.1", port: ctx.sink.tlsPort, secure: false, requireTLS: true, tls: { ca: ctx.certs.ca, minVersion: "TLSv1.2" } }
    : { host: "127.0.0.1", port: ctx.sink.plainPort, secure: false, ignoreTLS: true };
}

/** One pooled nodemailer transport straight to the sink: no queue, no Redis. */
async function runPooled(ctx: Context, tls: boolean, warmup: Mail.Options[], messages: Mail.Options[]): Promise<Throughput> {
  const options: SMTPPool.Options = { ...connection(ctx, tls), pool: true, auth: { user: SINK_USER, pass: SINK_PASS }, ...POOL };
  const transport: Transporter<SMTPPool.SentMessageInfo> = nodemailer.createTransport(options);
  const send = (m: Mail.Options) => transport.sendMail(m);
  try {
    const base = ctx.sink.count;
    await Promise.all([sendAll(send, warmup, CEILING_INFLIGHT), ctx.sink.waitFor(base + warmup.length, ctx.abort.signal)]);
    return await measure(ctx, [], messages.length, () => sendAll(send, messages, CEILING_INFLIGHT));
  } finally {
    transport.close();
  }
}

/** nodemailer alone, composing with its own composer. Rendering happens before the clock starts. */
export function runCeiling(ctx: Context, tls: boolean): Promise<Throughput> {
  return runPooled(ctx, tls, fieldsFor(recipients("ceiling-warm", SIZES.warmup)), fieldsFor(recipients("user", SIZES.count)));
}

/** nodemailer's transport alone: rendering and composing (the product's own) happen before the clock starts. */
export async function runTransportCeiling(ctx: Context, tls: boolean): Promise<Throughput> {
  const config = await parseSmtpConfig(configBody(ctx, { tls, auth: "password" }, 0), { allowPrivateTargets: true });
  return runPooled(ctx, tls, composedFor(config, recipients("transport-warm", SIZES.warmup)), composedFor(config, recipients("user", SIZES.count)));
}

/**
 * A new transport per email over STARTTLS, XOAUTH2 with a cached token, WORKER_CONCURRENCY
 * emails in flight (what a worker without pooling has). Every connection waits out the sink's
 * 100 ms greeting delay, as it would a real server's round trips.
 */
export async function runNaive(ctx: Context): Promise<Throughput> {
  const config = await parseSmtpConfig(configBody(ctx, { tls: true, auth: "password" }, 0), { allowPrivateTargets: true });
  const token = ctx.tokens.issue("bench-naive");
  const send = async (message: Mail.Options) => {
    const transport = nodemailer.createTransport({ ...connection(ctx, true), auth: { type: "OAuth2", user: FROM_EMAIL, accessToken: token } });
    try {
      await transport.sendMail(message);
    } finally {
      transport.close();
    }
  };
  const warm = composedFor(config, recipients("naive-warm", Math.min(SIZES.warmup, CONCURRENCY)));
  const base = ctx.sink.count;
  await Promise.all([sendAll(send, warm, CONCURRENCY), ctx.sink.waitFor(base + warm.length, ctx.abort.signal)]);
  const messages = composedFor(config, recipients("naive", SIZES.naive));
  return measure(ctx, [], messages.length, () => sendAll(send, messages, CONCURRENCY));
}
