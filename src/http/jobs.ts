// GET /v1/jobs/:id: where a job is, how many attempts it took, and why it failed.
import type { FastifyInstance } from "fastify";
import type { Redis } from "ioredis";
import type { EmailQueue } from "../queue.ts";
import { delayedRunTimes, waitInfo } from "../jobs/waiting.ts";
import { HttpError } from "./errors.ts";
import type { MailboxAdmin } from "../mailbox/admin.ts";

export async function jobRoutes(app: FastifyInstance, opts: { queue: EmailQueue; redis: Redis; mailboxes?: MailboxAdmin }): Promise<void> {
  app.get<{ Params: { id: string } }>("/v1/jobs/:id", async (request) => {
    const { id } = request.params;
    if (!/^[A-Za-z0-9_-]{1,80}$/.test(id)) throw new HttpError(404, "not_found", `no job ${id}`);
    // State first: a finished job's hash is final, so fields read after it are never older.
    const state = await opts.queue.getJobState(id);
    const job = state === "unknown" ? undefined : await opts.queue.getJob(id);
    if (!job) throw new HttpError(404, "not_found", `no job ${id} (completed jobs are kept for 24 hours)`);
    // Delayed: waiting for a mailbox (rate_limit, throttled, breaker_open: recorded by the wait
    // itself) or for a retry (backoff, whose run time only the delayed set knows).
    const mailboxWait = state === "delayed" && opts.mailboxes ? await opts.mailboxes.waitingFor(job) : undefined;
    const waiting = mailboxWait && mailboxWait.waitingFor !== "backoff" ? mailboxWait : undefined;
    const wait = state === "delayed" && !waiting ? waitInfo(job.data, (await delayedRunTimes(opts.redis, opts.queue, [id])).get(id) ?? null) : undefined;
    return {
      id: job.id,
      type: job.data.type,
      projectId: job.data.projectId,
      to: job.data.to,
      state,
      attempts: job.attemptsMade,
      ...(waiting ? { ...waiting, runAt: waiting.waitingUntil } : {}),
      ...(wait ? { waitingFor: wait.reason, runAt: wait.until === null ? null : new Date(wait.until).toISOString() } : {}),
      ...(job.failedReason ? { failedReason: job.failedReason } : {}),
      ...(state === "completed" && job.returnvalue ? { result: { messageId: job.returnvalue.messageId, response: job.returnvalue.response } } : {}),
    };
  });
}
