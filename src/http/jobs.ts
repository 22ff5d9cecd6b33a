// GET /v1/jobs/:id: where a job is, how many attempts it took, and why it failed.
import type { FastifyInstance } from "fastify";
import type { EmailQueue } from "../queue.ts";
import { HttpError } from "./errors.ts";

export async function jobRoutes(app: FastifyInstance, opts: { queue: EmailQueue }): Promise<void> {
  app.get<{ Params: { id: string } }>("/v1/jobs/:id", async (request) => {
    const { id } = request.params;
    const job = /^[A-Za-z0-9_-]{1,80}$/.test(id) ? await opts.queue.getJob(id) : undefined;
    if (!job) throw new HttpError(404, "not_found", `no job ${id} (completed jobs are kept for 24 hours)`);
    const state = await job.getState();
    return {
      id: job.id,
      type: job.data.type,
      projectId: job.data.projectId,
      to: job.data.to,
      state,
      attempts: job.attemptsMade,
      ...(job.failedReason ? { failedReason: job.failedReason } : {}),
      ...(state === "completed" && job.returnvalue ? { result: { messageId: job.returnvalue.messageId, response: job.returnvalue.response } } : {}),
    };
  });
}
