// jobs get / failed / retry: follow a job, list the failed ones, put one back in the queue.
import type { Command } from "../command.ts";
import { pretty, stringFlag } from "../command.ts";
import { UsageError } from "../errors.ts";
import { renderTable } from "../table.ts";
import { terminalText } from "../terminal-text.ts";
import type { JobSummary } from "../../http/admin-jobs.ts";

const MAX_LIMIT = 500;

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
    path: ["jobs", "failed"],
    summary: "list failed jobs, newest first, with why they failed",
    flags: { limit: { type: "string", valueName: "N", help: `how many, 1–${MAX_LIMIT} (default 50)` } },
    notes: ["The reason is cut to the terminal's width; piped output keeps it whole unless COLUMNS is set."],
    async run(context) {
      const limit = context.flags.limit === undefined ? 50 : Number(stringFlag(context, "limit"));
      if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) throw new UsageError(`--limit must be a whole number from 1 to ${MAX_LIMIT}`, "jobs failed");
      const res = await context.api().get(`/v1/jobs?state=failed&limit=${limit}`);
      const { jobs } = res.body as { jobs: JobSummary[] };
      if (jobs.length === 0) {
        await context.io.out("no failed jobs\n");
        return 0;
      }
      // The reason is what a peer said (cleaned by the server too, but this terminal is ours to protect).
      const rows = jobs.map((job) =>
        [job.id, job.type, job.projectId, job.to, String(job.attempts), when(job.failedAt), job.failedReason ?? ""].map((cell) => terminalText(cell)));
      await context.io.out(renderTable(["ID", "TYPE", "PROJECT", "TO", "ATTEMPTS", "FAILED AT", "REASON"], rows, { width: context.io.columns }));
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

/** UTC, to the second: short enough for a table, unambiguous across operators' time zones. */
function when(iso: string | null): string {
  return typeof iso === "string" ? `${iso.slice(0, 19).replace("T", " ")}Z` : "-";
}
