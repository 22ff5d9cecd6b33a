// The three timed phases. Each sends COUNT emails (after WARMUP untimed ones) to the same sink;
// the clock runs from the first send to the moment the sink has counted the last message.
//   ceiling            nodemailer alone: one pooled transport, nodemailer's own composer;
//   transport ceiling  the same transport sending messages pre-composed, before the clock,
//                      by the product's toMessage(): nodemailer's transport without composing;
//   product            producer → Redis → one worker process → sink;
//   product, limits    the same with generous mailbox limits on the config (never binding),
//                      so the GCRA and daily counter run on every send: the cost of the gate.
import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import nodemailer, { type Transporter } from "nodemailer";
import type Mail from "nodemailer/lib/mailer";
import type SMTPPool from "nodemailer/lib/smtp-pool";
import type { Redis } from "ioredis";
import { createKeys } from "../src/keys.ts";
import { parseMasterKey } from "../src/crypto/master-key.ts";
import { SmtpConfigStore } from "../src/smtp-config/store.ts";
import { parseSmtpConfig } from "../src/smtp-config/validate.ts";
import type { SmtpConfig } from "../src/smtp-config/model.ts";
import { createEmailProducer, type EmailProducer } from "../src/producer.ts";
import { renderEmail } from "../src/templates/index.ts";
import { toMessage } from "../src/delivery/message.ts";
import { MAX_RECIPIENTS, type EmailJobData } from "../src/jobs/contracts.ts";
import { COUNT, CEILING_INFLIGHT, FROM_EMAIL, FROM_NAME, INCIDENT, POOL, PROJECT_ID, REDIS_URL, WARMUP, recipients } from "./config.ts";
import { startWorker, type Sink } from "./children.ts";
import { cpuMsPerEmail, cpuPercent, procPeakRssMb, sample, type CpuPercent } from "./cpu.ts";
import { SINK_PASS, SINK_USER } from "./sink-protocol.ts";

export interface PhaseResult {
  seconds: number;
  emailsPerSec: number;
  cpuPercent: CpuPercent;
  /** CPU time the sending process spent per email (steadier than wall time on a busy machine). */
  senderCpuMsPerEmail: number | null;
}

export interface ProductResult {
  delivery: PhaseResult;
  enqueue: { seconds: number; emailsPerSec: number };
  workerPeakRssMb: number | null;
  failedJobs: number;
}

/** What run.ts must undo whatever happens. */
export interface Cleanup {
  worker?: ChildProcess;
  producer?: EmailProducer;
  /** Redis key prefixes to delete. */
  prefixes: string[];
}

/** Limits that never bind at bench speeds: the gate's scripts run, nothing waits. */
export const GENEROUS_LIMITS = { maxConnections: 1000, messagesPerMinute: 1_000_000, messagesPerDay: 1_000_000_000 } as const;

/** The project's SMTP config, through the PUT route's validation (`PUT /v1/projects/bench/smtp-config`). */
export function benchConfig(sink: Sink, limits?: typeof GENEROUS_LIMITS): Promise<SmtpConfig> {
  return parseSmtpConfig(
    {
      ...(limits ? { limits } : {}),
      host: "127.0.0.1",
      port: sink.port,
      secure: false,
      allowInsecureAuth: true,
      fromEmail: FROM_EMAIL,
      fromName: FROM_NAME,
      auth: { type: "password", username: SINK_USER, password: SINK_PASS },
    },
    { allowPrivateTargets: true },
  );
}

const render = (address: string) => {
  const job: EmailJobData = { type: "incident", projectId: PROJECT_ID, to: address, data: INCIDENT, enqueuedAt: Date.now() };
  return renderEmail(job);
};

/** The fields someone using nodemailer alone would hand it; nodemailer composes the message. */
function fieldsFor(to: string[]): Mail.Options[] {
  return to.map((address) => {
    const email = render(address);
    return {
      from: { name: FROM_NAME, address: FROM_EMAIL },
      to: address,
      subject: email.subject,
      html: email.html,
      text: email.text,
      headers: email.headers,
    };
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

/** Sends `messages` through `transport`, at most `inflight` at a time. */
async function sendAll(transport: Transporter<SMTPPool.SentMessageInfo>, messages: Mail.Options[], inflight: number): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < messages.length) {
      const message = messages[next++]!;
      await transport.sendMail(message);
    }
  };
  await Promise.all(Array.from({ length: Math.min(inflight, messages.length) }, lane));
}

/** One pooled nodemailer transport straight to the sink: no queue, no Redis. */
async function runNodemailer(sink: Sink, redis: Redis, signal: AbortSignal, warmup: Mail.Options[], messages: Mail.Options[]): Promise<PhaseResult> {
  const options: SMTPPool.Options = {
    pool: true,
    host: "127.0.0.1",
    port: sink.port,
    secure: false,
    ignoreTLS: true,
    auth: { user: SINK_USER, pass: SINK_PASS },
    ...POOL,
  };
  const transport = nodemailer.createTransport(options);
  try {
    let base = sink.count;
    await Promise.all([sendAll(transport, warmup, CEILING_INFLIGHT), sink.waitFor(base + WARMUP, signal)]);
    base += WARMUP;

    const before = await sample(sink, redis, null);
    const started = performance.now();
    const [, finished] = await Promise.all([sendAll(transport, messages, CEILING_INFLIGHT), sink.waitFor(base + COUNT, signal)]);
    const after = await sample(sink, redis, null);
    const seconds = (finished - started) / 1000;
    return { seconds, emailsPerSec: COUNT / seconds, cpuPercent: cpuPercent(before, after), senderCpuMsPerEmail: cpuMsPerEmail(before, after, "self") };
  } finally {
    transport.close();
  }
}

/** nodemailer alone, composing with its own composer. Rendering happens before the clock starts. */
export function runCeiling(sink: Sink, redis: Redis, signal: AbortSignal): Promise<PhaseResult> {
  return runNodemailer(sink, redis, signal, fieldsFor(recipients("ceiling-warm", WARMUP)), fieldsFor(recipients("user", COUNT)));
}

/** nodemailer's transport alone: rendering and composing (the product's own) happen before the clock starts. */
export async function runTransportCeiling(sink: Sink, redis: Redis, signal: AbortSignal): Promise<PhaseResult> {
  const config = await benchConfig(sink);
  return runNodemailer(sink, redis, signal, composedFor(config, recipients("transport-warm", WARMUP)), composedFor(config, recipients("user", COUNT)));
}

export async function runProduct(sink: Sink, redis: Redis, abort: AbortController, cleanup: Cleanup, limits?: typeof GENEROUS_LIMITS): Promise<ProductResult> {
  const { signal } = abort;
  const prefix = `{bench-${randomBytes(6).toString("hex")}}`;
  cleanup.prefixes.push(prefix);
  const masterKeyB64 = randomBytes(32).toString("base64");
  const keys = createKeys(prefix);
  await new SmtpConfigStore(redis, keys, parseMasterKey(masterKeyB64, "bench master key")).put(PROJECT_ID, await benchConfig(sink, limits));

  const producer = createEmailProducer({ redis: REDIS_URL, prefix });
  cleanup.producer = producer;
  const enqueue = async (kind: string, n: number, idempotencyKey: string) => {
    const to = recipients(kind, n);
    for (let i = 0; i < to.length; i += MAX_RECIPIENTS) {
      await producer.enqueue({ type: "incident", projectId: PROJECT_ID, to: to.slice(i, i + MAX_RECIPIENTS), idempotencyKey, data: INCIDENT });
    }
  };

  const worker = startWorker({ prefix, masterKeyB64 }, abort);
  cleanup.worker = worker.child;

  // Warm-up: starts the worker's pool (connect + AUTH) and JIT; waits for the worker to be up.
  let base = sink.count;
  await enqueue("warm", WARMUP, "bench-warmup");
  await sink.waitFor(base + WARMUP, signal);
  base += WARMUP;

  // Fill the queue while it is paused, so delivery is timed on its own.
  await producer.queue.pause();
  const enqueueStarted = performance.now();
  await enqueue("user", COUNT, "bench-main");
  const enqueueSeconds = (performance.now() - enqueueStarted) / 1000;

  const before = await sample(sink, redis, worker.child);
  const started = performance.now();
  await producer.queue.resume();
  const finished = await sink.waitFor(base + COUNT, signal);
  const after = await sample(sink, redis, worker.child);
  const seconds = (finished - started) / 1000;

  const workerPeakRssMb = worker.child.pid ? procPeakRssMb(worker.child.pid) : null;
  const counts = await producer.queue.getJobCounts("failed");
  await worker.stop(30_000);

  return {
    delivery: { seconds, emailsPerSec: COUNT / seconds, cpuPercent: cpuPercent(before, after), senderCpuMsPerEmail: cpuMsPerEmail(before, after, "worker") },
    enqueue: { seconds: enqueueSeconds, emailsPerSec: COUNT / enqueueSeconds },
    workerPeakRssMb,
    failedJobs: counts.failed ?? 0,
  };
}
