// GET /v1/jobs?state=failed&limit=50 and POST /v1/jobs/:id/retry: what an operator does in the
// board, over the API, so scripts and the CLI can list and retry jobs without a browser.
import type { FastifyInstance } from "fastify";
import type { JobType } from "bullmq";
import type { Redis } from "ioredis";
import type { EmailQueue } from "../queue.ts";
import { delayedRunTimes, waitInfo } from "../jobs/waiting.ts";
import { HttpError } from "./errors.ts";
import { LISTABLE_STATES, type ListableState } from "../jobs/states.ts";

export { LISTABLE_STATES, type ListableState };

/** One row of `GET /v1/jobs`. Absent values are null so every row has the same keys. */
export interface JobSummary {
  id: string;
  type: string;
  projectId: string;
  to: string;
  state: ListableState;
  attempts: number;
  failedReason: string | null;
  /** ISO time of the final failure; null unless the job is failed. */
  failedAt: string | null;
  /** ISO time a delayed job runs next; null unless the job is delayed. */
  runAt: string | null;
  /** Why a delayed job waits: "backoff" (a retry), or what delayed it ("rate limit", "throttling", "breaker"); null unless delayed. */
  waitingFor: string | null;
}

export const MAX_LIST_LIMIT = 500;
const DEFAULT_LIST_LIMIT = 50;
const JOB_ID = /^[A-Za-z0-9_-]{1,80}$/;

/**
 * Every job carries a priority (incident/alert before status-page), and BullMQ keeps waiting
 * jobs with a priority in its "prioritized" set, not in "wait": "waiting" has to read both.
 */
const BULL_TYPES: Record<ListableState, JobType[]> = {
  failed: ["failed"],
  delayed: ["delayed"],
  waiting: ["waiting", "prioritized"],
  active: ["active"],
  completed: ["completed"],
};

export async function adminJobRoutes(app: FastifyInstance, opts: { queue: EmailQueue; redis: Redis }): Promise<void> {
  const { queue } = opts;

  app.get<{ Querystring: { state?: string; limit?: string } }>("/v1/jobs", async (request) => {
    const state = parseState(request.query.state);
    const limit = parseLimit(request.query.limit);
    // BullMQ's descending order is newest first for every list and set it keeps.
    const jobs = await queue.getJobs(BULL_TYPES[state], 0, limit - 1, false);
    // "waiting" merges two lists, each newest first on its own: order the union by creation.
    if (BULL_TYPES[state].length > 1) jobs.sort((a, b) => b.timestamp - a.timestamp);
    const listed = jobs.slice(0, limit);
    const runAt = state === "delayed" ? await delayedRunTimes(opts.redis, queue, listed.map((job) => String(job.id))) : new Map<string, number>();
    return {
      jobs: listed.map((job): JobSummary => ({
        id: String(job.id),
        type: job.data.type,
        projectId: job.data.projectId,
        to: job.data.to,
        state,
        attempts: job.attemptsMade,
        failedReason: job.failedReason || null,
        failedAt: state === "failed" && job.finishedOn ? new Date(job.finishedOn).toISOString() : null,
        ...delayedFields(state, job.data, runAt.get(String(job.id))),
      })),
    };
  });

  app.post<{ Params: { id: string } }>("/v1/jobs/:id/retry", async (request, reply) => {
    const { id } = request.params;
    if (!JOB_ID.test(id)) throw new HttpError(404, "not_found", `no job ${id}`);
    const state = await queue.getJobState(id);
    const job = state === "unknown" ? undefined : await queue.getJob(id);
    if (!job) throw new HttpError(404, "not_found", `no job ${id} (completed jobs are kept for 24 hours, failed ones for 7 days)`);
    if (state !== "failed") throw notFailed(id, state);
    try {
      // A fresh set of attempts. attemptsStarted is kept, so the retried job still checks
      // the 250 marker first and never sends an email a server already accepted.
      await job.retry("failed", { resetAttemptsMade: true });
    } catch (error) {
      // Someone else (the board, a second retry) moved it between our read and the retry.
      const now = await queue.getJobState(id);
      if (now === "unknown") throw new HttpError(404, "not_found", `no job ${id}`);
      if (now !== "failed") throw notFailed(id, now);
      throw error;
    }
    request.log.info({ jobId: id }, "failed job retried through the API");
    return reply.code(202).send({ id, state: await queue.getJobState(id) });
  });
}

function delayedFields(state: ListableState, data: unknown, runAt: number | undefined): Pick<JobSummary, "runAt" | "waitingFor"> {
  if (state !== "delayed") return { runAt: null, waitingFor: null };
  const wait = waitInfo(data, runAt ?? null);
  return { runAt: wait.until === null ? null : new Date(wait.until).toISOString(), waitingFor: wait.reason };
}

function notFailed(id: string, state: string): HttpError {
  return new HttpError(409, "not_failed", `job ${id} is ${state}; only failed jobs can be retried`);
}

function parseState(value: string | undefined): ListableState {
  const state = value ?? "failed";
  if ((LISTABLE_STATES as readonly string[]).includes(state)) return state as ListableState;
  throw new HttpError(400, "validation_failed", "the job query is invalid", [
    { field: "state", message: `must be one of ${LISTABLE_STATES.join(", ")}` },
  ]);
}

function parseLimit(value: string | undefined): number {
  if (value === undefined) return DEFAULT_LIST_LIMIT;
  const limit = /^\d{1,4}$/.test(value) ? Number(value) : NaN;
  if (limit >= 1 && limit <= MAX_LIST_LIMIT) return limit;
  throw new HttpError(400, "validation_failed", "the job query is invalid", [
    { field: "limit", message: `must be an integer from 1 to ${MAX_LIST_LIMIT}` },
  ]);
}
