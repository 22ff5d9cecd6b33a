// "Wait, don't fail": a result the processor returns (like River's JobSnooze), not an
// exception. The worker turns it into `job.moveToDelayed(until, token)` + BullMQ's
// DelayedError; BullMQ 6 moves the job with `skipAttempt`, so attemptsMade stays as it was
// (attemptsStarted grows by one per run, which makes the next run check the 250 marker
// first: harmless, and exactly right for a job that may have sent before).
//
// Why a job waits, and how long it has waited in all, is kept in a small hash per job
// (keys.jobWait): GET /v1/jobs/:id shows it, and it bounds the waiting: throttling at most
// JOB_THROTTLE_MAX_MS in all, an open breaker at most BREAKER_MAX_WAIT_MS from the first wait.
import { DelayedError, type Job } from "bullmq";
import type { Redis } from "ioredis";
import type { Keys } from "../keys.ts";
import type { EmailJobData, SendResult } from "../jobs/contracts.ts";
import { LUA_NOW, LuaScript } from "../mailbox/script.ts";

/** What `GET /v1/jobs/:id` shows as `waitingFor`. */
export type WaitReason = "rate_limit" | "throttled" | "breaker_open" | "backoff";

export interface Wait {
  readonly wait: true;
  /** Local epoch ms. */
  readonly until: number;
  readonly reason: WaitReason;
  /** One short line for people: which limit, or what the server said. */
  readonly detail: string;
  /** Not worth a line in the job's log (a wait for a connection slot, of which a backlog has many). */
  readonly quiet?: boolean;
}

export function isWait(value: unknown): value is Wait {
  return typeof value === "object" && value !== null && (value as { wait?: unknown }).wait === true;
}

/** Which total a wait counts against. */
export type WaitBound = "throttle" | "breaker";

export interface WaitProposal {
  ms: number;
  reason: WaitReason;
  detail: string;
  bound?: WaitBound;
  /** With bound "breaker": the mailbox whose breaker the job waits for (a PUT promotes it). */
  mailboxId?: string;
}

export interface WaitingJob {
  id: string;
  projectId: string;
  attemptsStarted: number;
}

export interface WaitRecord {
  waitingFor: WaitReason;
  waitingUntil: string;
  waitReason: string;
}

// Checks the bound and records the wait in one step. The record outlives the wait by a day.
const HOLD = new LuaScript(`${LUA_NOW}
local reason, ms, detail, bound = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]
local throttleMax, breakerMax, jobId, projectId, ats = tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7], ARGV[8], ARGV[9]
local f = rcall('HMGET', KEYS[1], 'thr', 'bsince')
if bound == 'throttle' then
  local thr = tonumber(f[1]) or 0
  if thr >= throttleMax then return {0, thr} end
  ms = math.min(ms, throttleMax - thr)
  rcall('HSET', KEYS[1], 'thr', thr + ms)
elseif bound == 'breaker' then
  local since = tonumber(f[2]) or now
  if now - since >= breakerMax then return {0, now - since} end
  ms = math.min(ms, since + breakerMax - now)
  rcall('HSET', KEYS[1], 'bsince', since)
  rcall('HSET', KEYS[2], jobId, projectId)
  rcall('PEXPIRE', KEYS[2], ms + 86400000)
end
rcall('HSET', KEYS[1], 'reason', reason, 'until', now + ms, 'detail', detail, 'ats', ats)
rcall('PEXPIRE', KEYS[1], ms + 86400000)
return {1, ms}
`);

export interface WaitBounds {
  /** JOB_THROTTLE_MAX_MS. */
  throttleMaxMs: number;
  /** BREAKER_MAX_WAIT_MS. */
  breakerMaxWaitMs: number;
}

export class WaitBook {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly bounds: WaitBounds,
  ) {}

  /** Records the wait; null when the job has already waited as long as its bound allows. */
  async hold(job: WaitingJob, proposal: WaitProposal): Promise<Wait | null> {
    const second = proposal.mailboxId ? this.keys.mailboxBreakerWaiters(proposal.mailboxId) : this.keys.jobWait(job.id);
    const reply = (await HOLD.run(this.redis, [this.keys.jobWait(job.id), second], [
      proposal.reason, Math.max(0, Math.round(proposal.ms)), proposal.detail, proposal.bound ?? "",
      this.bounds.throttleMaxMs, this.bounds.breakerMaxWaitMs, job.id, job.projectId, job.attemptsStarted,
    ])) as [number, number];
    if (reply[0] !== 1) return null;
    return { wait: true, until: Date.now() + reply[1], reason: proposal.reason, detail: proposal.detail };
  }

  /** Why a delayed job waits: its own record if written during its latest run, else BullMQ's retry backoff. */
  async read(job: { id?: string; attemptsStarted: number; timestamp: number; delay: number; processedOn?: number }): Promise<WaitRecord> {
    const [reason, until, detail, ats] = job.id ? await this.redis.hmget(this.keys.jobWait(job.id), "reason", "until", "detail", "ats") : [];
    if (reason && Number(ats) === job.attemptsStarted) {
      return { waitingFor: reason as WaitReason, waitingUntil: new Date(Number(until)).toISOString(), waitReason: detail ?? "" };
    }
    const from = job.processedOn ?? job.timestamp;
    return { waitingFor: "backoff", waitingUntil: new Date(from + job.delay).toISOString(), waitReason: "retrying after a failed attempt" };
  }
}

export type EmailJob = Job<EmailJobData, SendResult>;

/** The BullMQ processor around a deliverer that may return a Wait. */
export function withWaits(deliver: (job: EmailJob) => Promise<SendResult | Wait>): (job: EmailJob, token?: string) => Promise<SendResult> {
  return async (job, token) => {
    const outcome = await deliver(job);
    if (!isWait(outcome)) return outcome;
    // The board shows a job's log: a line per wait says why it is delayed.
    await Promise.all([
      job.moveToDelayed(outcome.until, token),
      outcome.quiet ? 0 : job.log(`waiting (${outcome.reason}) until ${new Date(outcome.until).toISOString()}: ${outcome.detail}`).catch(() => 0),
    ]);
    throw new DelayedError();
  };
}
