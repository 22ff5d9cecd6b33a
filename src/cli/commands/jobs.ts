// jobs get / list / failed / retry: follow a job, list the jobs in a state (failed ones with why,
// delayed ones with when and why), put a failed one back in the queue.
import type { Command, CommandContext } from "../command.ts";
import { pretty, stringFlag } from "../command.ts";
import { UsageError } from "../errors.ts";
import { renderTable } from "../table.ts";
import { terminalText } from "../terminal-text.ts";
import type { JobSummary } from "../../http/admin-jobs.ts";
import { LISTABLE_STATES, type ListableState } from "../../jobs/states.ts";

const MAX_LIMIT = 500;
const LIMIT_FLAG = { type: "string", valueName: "N", help: `how many, 1–${MAX_LIMIT} (default 50)` } as const;

const jobPath = (id: string): string => `/v1/jobs/${encodeURIComponent(id)}`;

export const jobCommands: Command[] = [
  {
    path: ["jobs", "get"],
    summary: "show a job: state, attempts, failure reason or result",
    args: [{ name: "ID", help: "the job id `send` printed" }],
    flags: {},
    async run(context) {
      const res = await context.api().get(jobPath(context.args[0]!));
      await context.io.out(pretty(res.body));
      return 0;
    },
  },
  {
    path: ["jobs", "list"],
    summary: "list the jobs in a state, newest first (delayed ones with when and why they wait)",
    flags: {
      state: { type: "string", valueName: "STATE", required: true, help: `${LISTABLE_STATES.join(", ")}` },
      limit: LIMIT_FLAG,
    },
    notes: ["Times are UTC. The last column is cut to the terminal's width; piped output keeps it whole unless COLUMNS is set."],
    async run(context) {
      const state = stringFlag(context, "state");
      if (!(LISTABLE_STATES as readonly string[]).includes(state)) throw new UsageError(`--state must be one of ${LISTABLE_STATES.join(", ")}`, "jobs list");
      await context.io.out(await listJobs(context, state as ListableState, limitFlag(context, "jobs list")));
      return 0;
    },
  },
  {
    path: ["jobs", "failed"],
    summary: "list failed jobs, newest first, with why they failed",
    flags: { limit: LIMIT_FLAG },
    notes: ["The reason is cut to the terminal's width; piped output keeps it whole unless COLUMNS is set."],
    async run(context) {
      await context.io.out(await listJobs(context, "failed", limitFlag(context, "jobs failed")));
      return 0;
    },
  },
  {
    path: ["jobs", "retry"],
    summary: "put a failed job back in the queue",
    args: [{ name: "ID", help: "a failed job's id (see `jobs failed`)" }],
    flags: {},
    async run(context) {
      const id = context.args[0]!;
      const res = await context.api().post(`${jobPath(id)}/retry`, {});
      const { state } = res.body as { id: string; state: string };
      await context.io.out(`job ${id} is queued again (now ${terminalText(state, 40)}); follow it with: notify-smtp jobs get ${id}\n`);
      return 0;
    },
  },
];

function limitFlag(context: CommandContext, command: string): number {
  const limit = context.flags.limit === undefined ? 50 : Number(stringFlag(context, "limit"));
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) throw new UsageError(`--limit must be a whole number from 1 to ${MAX_LIMIT}`, command);
  return limit;
}

/** The table for one state: what matters about a job there comes last (reason, wait). */
async function listJobs(context: CommandContext, state: ListableState, limit: number): Promise<string> {
  const res = await context.api().get(`/v1/jobs?state=${state}&limit=${limit}`);
  const { jobs } = res.body as { jobs: JobSummary[] };
  if (jobs.length === 0) return `no ${state} jobs\n`;
  const base = ["ID", "TYPE", "PROJECT", "TO", "ATTEMPTS"];
  const row = (job: JobSummary) => [job.id, job.type, job.projectId, job.to, String(job.attempts)];
  const width = { width: context.io.columns };
  // Reasons and ids carry what a peer said (cleaned by the server too, but this terminal is ours to protect).
  const safe = (cells: string[]) => cells.map((cell) => terminalText(cell));
  if (state === "failed") {
    return renderTable([...base, "FAILED AT", "REASON"], jobs.map((job) => safe([...row(job), when(job.failedAt), job.failedReason ?? ""])), width);
  }
  if (state === "delayed") {
    return renderTable([...base, "RUNS AT", "WAITING FOR"], jobs.map((job) => safe([...row(job), when(job.runAt ?? null), job.waitingFor ?? "-"])), width);
  }
  return renderTable(base, jobs.map((job) => safe(row(job))), width);
}

/** UTC, to the second: short enough for a table, unambiguous across operators' time zones. */
function when(iso: string | null): string {
  return typeof iso === "string" ? `${iso.slice(0, 19).replace("T", " ")}Z` : "-";
}
