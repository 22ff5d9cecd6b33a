// How Bull Board shows an email job. The board renders `job.toJSON()`, so each job it fetches gets
// an own `toJSON` that presents it: a readable name (type · project · @domain, and why a delayed
// job waits), the failure reason once and without an error class in front (the per-attempt
// stack entries would repeat it), and a delayed job's real run time (BullMQ's `delay` is relative
// to the last move, so the board would otherwise show "Delay changed; … unknown").
// Only the board's view changes: the stored job and every other reader are untouched.
import type { Job } from "bullmq";
import type { Redis } from "ioredis";
import { BullMQAdapter } from "@bull-board/api/bullMQAdapter";
import type { EmailQueue } from "../queue.ts";
import { jobName } from "../jobs/job-name.ts";
import { delayedRunTimes, waitInfo, type WaitFields, type WaitInfo } from "../jobs/waiting.ts";
import type { MailboxAdmin } from "../mailbox/admin.ts";

/** `UnrecoverableError: [send] 550 …` → `[send] 550 …` */
export function withoutErrorClass(reason: string): string {
  return reason.replace(/^(?:UnrecoverableError|DeliveryError|DelayedError|Error): /, "");
}

type JobProps = ReturnType<Job["toJSON"]>;

/** The board's picture of one job; `runAt` is set for a delayed job. */
export function presentJob(props: JobProps, runAt: number | undefined, recorded?: WaitInfo): JobProps {
  const data = (props.data ?? {}) as { type?: unknown; projectId?: unknown; to?: unknown } & WaitFields;
  const isEmail = typeof data.type === "string" && typeof data.projectId === "string" && typeof data.to === "string";
  let name = isEmail ? jobName(data as { type: string; projectId: string; to: string }) : props.name;
  const out: JobProps = { ...props, opts: { ...props.opts }, stacktrace: [] };
  if (props.failedReason) out.failedReason = withoutErrorClass(props.failedReason);
  if (runAt !== undefined) {
    const wait = recorded ?? waitInfo(data, runAt);
    name = `${name} · waiting: ${wait.reason}`;
    // The board shows "will run at" = timestamp + opts.delay, and a warning when delay differs.
    const delay = Math.max(0, (wait.until ?? runAt) - props.timestamp);
    out.delay = delay;
    out.opts.delay = delay;
  }
  out.name = name;
  return out;
}

async function present(redis: Redis, queue: EmailQueue, jobs: Job[], mailboxes?: MailboxAdmin): Promise<Job[]> {
  const runAt = await delayedRunTimes(redis, queue, jobs.map((job) => String(job.id)));
  // A wait for a mailbox (rate limit, throttling, breaker) is recorded by the wait itself.
  const recorded = new Map<string, WaitInfo>();
  if (mailboxes) {
    await Promise.all(jobs.filter((job) => runAt.has(String(job.id))).map(async (job) => {
      const wait = await mailboxes.waitingFor(job);
      if (wait.waitingFor !== "backoff") recorded.set(String(job.id), { reason: wait.waitingFor, until: Date.parse(wait.waitingUntil) });
    }));
  }
  for (const job of jobs) {
    const original = job.toJSON.bind(job);
    job.toJSON = () => presentJob(original(), runAt.get(String(job.id)), recorded.get(String(job.id)));
  }
  return jobs;
}

/** BullMQAdapter whose jobs present themselves as above. */
export class EmailBoardAdapter extends BullMQAdapter {
  constructor(
    private readonly emailQueue: EmailQueue,
    private readonly redis: Redis,
    options: ConstructorParameters<typeof BullMQAdapter>[1],
    private readonly mailboxes?: MailboxAdmin,
  ) {
    super(emailQueue, options);
  }

  override async getJobs(...args: Parameters<BullMQAdapter["getJobs"]>): Promise<Job[]> {
    return present(this.redis, this.emailQueue, await super.getJobs(...args), this.mailboxes);
  }

  override async getJob(id: string): Promise<Job | undefined> {
    const job = await super.getJob(id);
    return job ? (await present(this.redis, this.emailQueue, [job], this.mailboxes))[0] : job;
  }
}
