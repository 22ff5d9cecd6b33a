// One job, one send: the hot path. While the config and token caches are fresh this touches
// Redis only to write the 250 marker; config, transport, token and templates are in memory,
// and the message is composed in one pass (compose.ts).
import { UnrecoverableError, type Job } from "bullmq";
import type { EmailJobData, SendResult } from "../jobs/contracts.ts";
import type { ConfigResolver } from "../smtp-config/resolver.ts";
import type { ResolvedConfig } from "../smtp-config/model.ts";
import type { Logger } from "../log.ts";
import { renderEmail } from "../templates/index.ts";
import type { RenderCache } from "../templates/render-cache.ts";
import { toMessage } from "./message.ts";
import { checkJobData } from "../jobs/validate.ts";
import { SealError } from "../crypto/seal.ts";
import { UnreadableConfigError } from "../smtp-config/unreadable.ts";
import { DeliveryError } from "../errors.ts";
import { classifySmtpError } from "./classify-smtp.ts";
import type { SentMarkers } from "./sent-markers.ts";
import type { TransportPool } from "./transport-pool.ts";
import type { DeliveryObserver } from "./observer.ts";
import type { XOAuth2 } from "./xoauth2.ts";
import { smtpSecrets } from "./smtp-secrets.ts";
import { cleanPeerText } from "../net/peer-text.ts";
import type { Gate, Ticket } from "../mailbox/gate.ts";
import { isWait, type Wait } from "./wait.ts";
import { sendViaGraph, type GraphTransport } from "./transports/graph.ts";

export interface DeliverDeps {
  resolver: ConfigResolver;
  transports: TransportPool;
  markers: SentMarkers;
  log: Logger;
  /** Needed for OAuth configs. */
  xoauth2?: XOAuth2;
  observer?: DeliveryObserver;
  /**
   * A job recovered from a stall with no 250 marker waits this long and looks again before
   * sending. Its earlier run may belong to a live worker that lost its lock in a Redis outage
   * and is landing its marker right now (every connection reconnects within about a second).
   * Default 1500 ms: reconnects are at most a second apart (redis.ts RECONNECT_MAX_MS).
   */
  stalledMarkerGraceMs?: number;
  /** Each mailbox's limits, throttling and breaker (src/mailbox/gate.ts); absent: sends go at once. */
  gate?: Gate;
  /** Needed for `transport: "graph"` configs. */
  graph?: GraphTransport;
  /** Renders each distinct email once (a fan-out's many jobs share one); absent: every job renders. */
  renderer?: RenderCache;
}

export type EmailJob = Job<EmailJobData, SendResult>;

/**
 * The BullMQ processor (wrapped by `withWaits`). Returns a Wait when the mailbox says "not now";
 * throws `UnrecoverableError` for permanent failures, `DeliveryError` otherwise.
 */
export function createDeliverer(deps: DeliverDeps): (job: EmailJob) => Promise<SendResult | Wait> {
  const { resolver, markers, log, observer, gate } = deps;

  return async function deliver(job) {
    const id = job.id ?? "";
    const { data } = job;
    const started = performance.now();
    // A job that has run before may already have been accepted by a server.
    if (job.attemptsStarted > 1 || job.attemptsMade > 0) {
      let previous = await markers.get(id);
      if (!previous && job.stalledCounter > 0) {
        await new Promise((r) => setTimeout(r, deps.stalledMarkerGraceMs ?? 1500));
        previous = await markers.get(id);
      }
      if (previous) {
        log.info({ jobId: id, projectId: data.projectId }, "already accepted by the server on an earlier attempt; not sending again");
        return { ...previous, deduplicated: true };
      }
    }
    let result: SendResult;
    let ticket: Ticket | undefined;
    try {
      const invalid = checkJobData(data);
      if (invalid.length > 0) {
        const fields = invalid.map((e) => `${e.field} ${e.message}`).join("; ");
        throw new DeliveryError(`the job's data is invalid: ${fields}`, { stage: "config", permanent: true, code: "invalid_job_data", hint: "enqueue with createEmailProducer or POST /v1/emails, which validate" });
      }
      const resolved = await resolveConfig(resolver, data.projectId);
      const admitted = await gate?.before(resolved, { id, projectId: data.projectId, attemptsStarted: job.attemptsStarted });
      if (isWait(admitted)) return admitted;
      ticket = admitted;
      result = await sendEmail(deps, resolved, data);
    } catch (error) {
      let err = classifySmtpError(error);
      const next = ticket && (await gate?.after(ticket, err));
      if (isWait(next)) return next;
      if (next) err = next;
      const final = err.permanent || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      observer?.failed(data.type, err, !final);
      const jobLog = log.child({ jobId: id, projectId: data.projectId, attempt: job.attemptsMade + 1 });
      jobLog[final ? "error" : "warn"]({ stage: err.stage, code: err.code, hint: err.hint, permanent: err.permanent }, err.message);
      throw err.permanent ? permanent(err) : retryable(err);
    }
    const seconds = (performance.now() - started) / 1000;
    observer?.sent(data.type, seconds);
    // The message is accepted: from here on nothing may make this job send it again. The write
    // waits out a Redis outage; only a shutdown past its grace gives up on it. The slot's
    // release goes out with the marker write, not after it.
    await Promise.all([
      markers.markBeforeCompletion(id, result).catch((err: unknown) => log.warn({ jobId: id, err: { message: (err as Error).message } }, "the 250 marker was not written; a later run of this job may send it again")),
      // A slot left held (Redis away) is released by its expiry; it must not fail a sent email.
      ticket && gate?.after(ticket).catch((err: unknown) => log.warn({ jobId: id, err: { message: (err as Error).message } }, "could not release the mailbox slot; it expires by itself")),
    ]);
    // The one info line per delivered email: one call on the parent logger (no child per job),
    // and no addresses.
    log.info({ jobId: id, projectId: data.projectId, type: data.type, durationMs: Math.round(seconds * 1000), messageId: result.messageId }, "sent");
    return result;
  };
}

/**
 * Renders and sends one email with a resolved config. For OAuth configs the token is fetched
 * first (so its errors keep the "token" stage), and a 535 gets one retry with a fresh token.
 */
export async function sendEmail(deps: Pick<DeliverDeps, "transports" | "xoauth2" | "graph" | "renderer">, resolved: ResolvedConfig, data: EmailJobData): Promise<SendResult> {
  const { config } = resolved;
  const email = deps.renderer ? deps.renderer.render(data) : renderEmail(data);
  const message = toMessage(config, data.to, email);
  // The one place the transport is chosen: the same composed message goes either way.
  if (config.transport === "graph") return sendViaGraph(deps.graph, deps.xoauth2, resolved, message);
  const oauth = config.auth?.type === "oauth" ? deps.xoauth2 : undefined;
  if (config.auth?.type === "oauth" && !oauth) throw new Error("OAuth configs need the XOAUTH2 provider");
  let token = oauth ? await oauth.token(resolved) : undefined;
  for (let attempt = 1; ; attempt++) {
    try {
      const info = await deps.transports.send(resolved, message.mail);
      return { messageId: message.messageId ?? info.messageId, response: cleanPeerText(info.response, { secrets: smtpSecrets(config, token) }) };
    } catch (error) {
      const err = classifySmtpError(error, { oauth: Boolean(oauth), secrets: smtpSecrets(config, token) });
      if (!oauth || token === undefined || attempt > 1 || err.stage !== "auth" || err.smtpCode !== 535) throw err;
      // The server refused our token (revoked, or permissions changed): once, with a fresh one.
      await oauth.invalidate(resolved, token);
      token = await oauth.token(resolved);
    }
  }
}

async function resolveConfig(resolver: ConfigResolver, projectId: string): Promise<ResolvedConfig> {
  let resolved;
  try {
    resolved = await resolver.resolve(projectId);
  } catch (err) {
    if (err instanceof SealError) {
      const hint = err instanceof UnreadableConfigError ? err.hint : "restore the NOTIFY_MASTER_KEY it was stored under (or put it in NOTIFY_MASTER_KEY_PREVIOUS), or PUT the config again";
      throw new DeliveryError(err.message, { stage: "config", permanent: true, code: "sealed_config_unreadable", hint });
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
  // The board shows a job's stack: the reason is what an operator needs, not our file paths.
  wrapped.stack = `${wrapped.name}: ${wrapped.message}`;
  return Object.assign(wrapped, { delivery: err.toJSON() });
}

/**
 * A retryable failure: a new DeliveryError whose message is the classified reason (the
 * backoff reads its Retry-After). Never the error itself: one token failure is shared by
 * every job that waited on it, and each would write its reason into the same object.
 */
function retryable(err: DeliveryError): DeliveryError {
  const copy = new DeliveryError(err.describe(), err.toJSON());
  copy.stack = `${copy.name}: ${copy.message}`;
  return copy;
}
