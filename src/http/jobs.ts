// GET /v1/jobs/:id: where a job is, how many attempts it took, and why it failed.
import type { FastifyInstance } from "fastify";
import type { EmailQueue } from "../queue.ts";
import { HttpError } from "./errors.ts";
import type { MailboxAdmin } from "../mailbox/admin.ts";

export async function jobRoutes(app: FastifyInstance, opts: { queue: EmailQueue; mailboxes?: MailboxAdmin }): Promise<void> {
  app.get<{ Params: { id: string } }>("/v1/jobs/:id", async (request) => {
    const { id } = request.params;
    if (!/^[A-Za-z0-9_-]{1,80}$/.test(id)) throw new HttpError(404, "not_found", `no job ${id}`);
    // State first: a finished job's hash is final, so fields read after it are never older.
    const state = await opts.queue.getJobState(id);
    const job = state === "unknown" ? undefined : await opts.queue.getJob(id);
    if (!job) throw new HttpError(404, "not_found", `no job ${id} (completed jobs are kept for 24 hours)`);
    // Delayed: waiting for a mailbox (rate_limit, throttled, breaker_open) or for a retry (backoff).
    const waiting = state === "delayed" && opts.mailboxes ? await opts.mailboxes.waitingFor(job) : undefined;
    return {
      id: job.id,
      type: job.data.type,
      projectId: job.data.projectId,
      to: job.data.to,
      state,
      attempts: job.attemptsMade,
      ...waiting,
      ...(job.failedReason ? { failedReason: job.failedReason } : {}),
      ...(state === "completed" && job.returnvalue ? { result: { messageId: job.returnvalue.messageId, response: job.returnvalue.response } } : {}),
    };
  });
}
