// One job, one send: the hot path. While the config cache is fresh this touches Redis only
// to write the 250 marker; everything else (config, transport, templates) is in memory.
import { UnrecoverableError, type Job } from "bullmq";
import type { EmailJobData, SendResult } from "../jobs/contracts.ts";
import type { ConfigResolver } from "../smtp-config/resolver.ts";
import type { Logger } from "../log.ts";
import { renderEmail } from "../templates/index.ts";
import { SealError } from "../crypto/seal.ts";
import { DeliveryError } from "./errors.ts";
import { classifySmtpError } from "./classify-smtp.ts";
import type { SentMarkers } from "./sent-markers.ts";
import type { TransportPool } from "./transport-pool.ts";
import type { DeliveryObserver } from "./observer.ts";

export interface DeliverDeps {
  resolver: ConfigResolver;
  transports: TransportPool;
  markers: SentMarkers;
  log: Logger;
  observer?: DeliveryObserver;
}

export type EmailJob = Job<EmailJobData, SendResult>;

/** The BullMQ processor. Throws `UnrecoverableError` for permanent failures, `DeliveryError` otherwise. */
export function createDeliverer(deps: DeliverDeps): (job: EmailJob) => Promise<SendResult> {
  const { resolver, transports, markers, log, observer } = deps;

  return async function deliver(job) {
    const id = job.id ?? "";
    const { data } = job;
    const started = performance.now();
    // A job that has run before may already have been accepted by a server.
    if (job.attemptsStarted > 1 || job.attemptsMade > 0) {
      const previous = await markers.get(id);
      if (previous) {
        log.info({ jobId: id, projectId: data.projectId }, "already accepted by the server on an earlier attempt; not sending again");
        return { ...previous, deduplicated: true };
      }
    }
    let result: SendResult;
    try {
      const resolved = await resolveConfig(resolver, data.projectId);
      const { config } = resolved;
      const email = renderEmail(data);
      const info = await transports.get(resolved).sendMail({
        from: config.fromName ? { name: config.fromName, address: config.fromEmail } : config.fromEmail,
        to: data.to,
        replyTo: config.replyTo,
        subject: email.subject,
        html: email.html,
        text: email.text,
        headers: email.headers,
      });
      result = { messageId: info.messageId, response: info.response };
    } catch (error) {
      const err = classifySmtpError(error);
      observer?.failed(data.type, err);
      const jobLog = log.child({ jobId: id, projectId: data.projectId, attempt: job.attemptsMade + 1 });
      const final = err.permanent || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      jobLog[final ? "error" : "warn"]({ stage: err.stage, code: err.code, hint: err.hint, permanent: err.permanent }, err.message);
      throw err.permanent ? permanent(err) : Object.assign(err, { message: err.describe() });
    }
    observer?.sent(data.type, (performance.now() - started) / 1000);
    // The message is accepted: from here on nothing may make this job send it again.
    await markers.set(id, result).catch((err: unknown) => log.error({ err, jobId: id }, "could not write the 250 marker"));
    log.debug({ jobId: id, projectId: data.projectId, messageId: result.messageId }, "sent");
    return result;
  };
}

async function resolveConfig(resolver: ConfigResolver, projectId: string) {
  let resolved;
  try {
    resolved = await resolver.resolve(projectId);
  } catch (err) {
    if (err instanceof SealError) {
      throw new DeliveryError(err.message, { stage: "config", permanent: true, code: "sealed_config_unreadable", hint: "the config was stored under another NOTIFY_MASTER_KEY: restore that key or PUT the config again" });
    }
    throw new DeliveryError(`could not load the SMTP config: ${(err as Error).message}`, { stage: "config", permanent: false, code: "config_unavailable" });
  }
  if (!resolved) {
    throw new DeliveryError(`project ${projectId} has no SMTP config and no DEFAULT_SMTP_URL is set`, {
      stage: "config", permanent: true, code: "no_smtp_config", hint: "PUT /v1/projects/:projectId/smtp-config, or set DEFAULT_SMTP_URL",
    });
  }
  return resolved;
}

/** BullMQ fails an `UnrecoverableError` at once; the classified reason becomes its message. */
function permanent(err: DeliveryError): UnrecoverableError {
  const wrapped = new UnrecoverableError(err.describe());
  return Object.assign(wrapped, { delivery: err.toJSON() });
}
