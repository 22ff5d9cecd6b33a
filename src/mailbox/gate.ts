// The one place delivery consults before a send and tells after it: limits (slots, rate,
// day), throttling and the breaker of the config's mailbox. The transports know nothing of it.
//   before(resolved, job) → a Ticket (send now) or a Wait (delay the job; it keeps its attempts)
//   after(ticket, error?) → undefined (carry on), a Wait, or the error to fail with
// A worker never sits on a slot for long: once its process holds as many slots as its pool
// has connections (or all it can get, when other replicas hold the rest), a send waits here
// up to 200 ms for one of them (sessions.ts), and beyond that "no slot" is a Wait and the
// worker takes its next job.
// Hot path with limits that do not bind: one EVALSHA before (none, for a quarter second after
// a clean answer, on a mailbox without a rate or daily limit); nothing after, unless the
// mailbox has state to settle (an AIMD cap, breaker failures, a probe).
import type { MasterKey } from "../crypto/master-key.ts";
import { DeliveryError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { ResolvedConfig } from "../smtp-config/model.ts";
import type { WaitBook, Wait, WaitProposal, WaitingJob } from "../delivery/wait.ts";
import { mailboxOf, type Mailbox } from "./mailbox.ts";
import { effectiveLimits, type EffectiveLimits } from "./limits.ts";
import type { AcquireResult, Limiter, Outcome } from "./limiter.ts";
import type { SessionEntry, Sessions } from "./sessions.ts";
import { storedFailure } from "./breaker.ts";
import type { Promote } from "./promote.ts";

/** What the gate reports, for metrics. */
export interface GateObserver {
  waited?(reason: Wait["reason"]): void;
  throttled?(code: string): void;
  breaker?(mailboxId: string, open: boolean): void;
}

export interface GateOptions {
  limiter: Limiter;
  sessions: Sessions;
  waits: WaitBook;
  masterKey: MasterKey;
  promote: Promote;
  /** The pooled transport key of a config (delivery/transport-pool.ts). */
  transportKey(resolved: ResolvedConfig): string;
  /**
   * Connections a config's transport opens at most while queueing further sends on them (an
   * SMTP pool): once this process holds that many slots, a send needs no new one. 0: every
   * send in flight needs a slot of its own (Graph requests). Default 0.
   */
  pooledConnections?(resolved: ResolvedConfig): number;
  /** Close a config's pooled connections (after a throttling reply). */
  retire(resolved: ResolvedConfig): void;
  observer?: GateObserver;
  log: Logger;
}

export interface Ticket {
  readonly resolved: ResolvedConfig;
  readonly mailbox: Mailbox;
  readonly limits: EffectiveLimits;
  readonly entry: SessionEntry;
  readonly job: WaitingJob;
  readonly dirty: boolean;
  readonly probe: boolean;
  readonly contended: boolean;
}

interface KnownConfig {
  mailbox: Mailbox;
  limits: EffectiveLimits;
  pooled: number;
  key: string;
}

/** A breaker-class failure before the breaker opens: retry soon, a second more each time. */
const BREAKER_RETRY_MS = 1000;

/**
 * How long a clean answer from the limiter (no breaker, throttle, quota or waiters) lets this
 * process's sends on slots it holds skip asking again, for a mailbox with no rate or daily
 * limit: the most that a breaker or throttle pause set by another replica goes unseen here.
 * Sends in that window that meet the trouble themselves wait for it as usual.
 */
export const CLEAR_ANSWER_MS = 250;

/**
 * Rate tokens a send asks for, its own included. The limiter grants no more than the rate's
 * burst (100 ms worth of sends, at most maxConnections; 1 up to 600/min, so Exchange's 30/min
 * is untouched) and none beyond 1 with a daily limit. The extra ones let this process's next
 * sends on held slots skip the round trip for CLEAR_ANSWER_MS; unused, they are lost, which
 * only ever sends less than the rate allows.
 */
const RATE_LEASE = 50;

export class Gate {
  private readonly mailboxes = new WeakMap<ResolvedConfig, KnownConfig>();
  /** Mailboxes this process reported open (metric), until it sees one of their sends succeed. */
  private readonly seenOpen = new Set<string>();

  constructor(private readonly options: GateOptions) {}

  /** Throws a permanent DeliveryError when the job has waited as long as it may. */
  before(resolved: ResolvedConfig, job: WaitingJob): Promise<Ticket | Wait> {
    return this.enter(resolved, job, true);
  }

  /** `queueable`: a full mailbox may send this one back to wait for this process's own slots (once). */
  private async enter(resolved: ResolvedConfig, job: WaitingJob, queueable: boolean): Promise<Ticket | Wait> {
    const { mailbox, limits, pooled, key } = this.mailbox(resolved);
    const { sessions, limiter } = this.options;
    const entry = sessions.entry(key, mailbox, limits, pooled);
    const claim = await sessions.claim(entry, queueable);
    const onHeldSlot = !claim.needSlot && job.attemptsStarted <= 1;
    if (onHeldSlot) {
      // One send at a time asks for more rate tokens; the others wait for its answer.
      if (entry.refilling) await entry.refilling;
      if (takeLocal(entry)) return { resolved, mailbox, limits, entry, job, dirty: false, probe: false, contended: false };
    }
    const counted = limits.messagesPerMinute !== undefined || limits.messagesPerDay !== undefined;
    let refilled: (() => void) | undefined;
    if (onHeldSlot && counted && !entry.refilling) entry.refilling = new Promise<void>((resolve) => (refilled = resolve));
    let result: AcquireResult;
    try {
      result = await limiter.acquire(mailbox, limits, {
        needSlot: claim.needSlot, holder: claim.holder, jobId: job.id, attemptsStarted: job.attemptsStarted, sends: RATE_LEASE, slotMode: claim.slotMode, turnMs: claim.turnMs,
      });
      if (result.ok) {
        const clean = !result.dirty && !result.probe && !result.contended;
        const now = Date.now();
        entry.clearUntil = clean && !counted ? now + CLEAR_ANSWER_MS : 0;
        // A rate with a burst may hand out a few sends at once: this process's next ones use them.
        const left = entry.tokensUntil > now ? entry.tokens : 0;
        entry.tokens = clean ? left + result.sends - 1 : 0;
        entry.tokensUntil = now + CLEAR_ANSWER_MS;
      }
    } catch (err) {
      sessions.refused(entry, claim.holder);
      throw err;
    } finally {
      if (refilled) {
        entry.refilling = undefined;
        refilled();
      }
    }
    if (result.ok) {
      sessions.granted(entry, claim.holder);
      return { resolved, mailbox, limits, entry, job, dirty: result.dirty, probe: result.probe, contended: result.contended };
    }
    sessions.refused(entry, claim.holder);
    if (result.reason === "full") {
      // Other replicas hold the rest of the mailbox's slots: queue on ours, as a pool does.
      sessions.full(entry);
      return this.enter(resolved, job, false);
    }
    const failure = result.failure ? storedFailure(result.failure) : undefined;
    if (result.recorded) {
      // A limit of our own, or the day's quota: already recorded on the job by the acquire.
      this.options.observer?.waited?.("rate_limit");
      const detail = result.reason === "slot" ? `all ${limits.maxConnections} connections of this mailbox are in use`
        : result.reason === "rate" ? `spacing sends to ${limits.messagesPerMinute} a minute`
          : result.reason === "day" ? `${limits.messagesPerDay} messages sent today (UTC)` : "the provider's daily sending quota is used up";
      // Slot waits can be many in a backlog: the board's log gets the others only.
      return { wait: true, until: Date.now() + result.ms, reason: "rate_limit", detail, quiet: result.reason === "slot" };
    }
    const proposal: WaitProposal = result.reason === "throttled"
      ? { ms: result.ms, reason: "throttled", bound: "throttle", detail: `the server throttles this mailbox${failure ? `: ${failure.message}` : ""}` }
      : { ms: result.ms, reason: "breaker_open", bound: "breaker", mailboxId: mailbox.id, detail: `the mailbox's breaker is open${failure ? `: ${failure.describe()}` : ""}` };
    if (result.reason === "breaker_open" && !this.seenOpen.has(mailbox.id)) {
      this.seenOpen.add(mailbox.id);
      this.options.observer?.breaker?.(mailbox.id, true);
    }
    const wait = await this.hold(job, proposal);
    if (wait) return wait;
    throw final(failure, proposal);
  }

  /** `error` undefined: sent. Never throws: a release that fails is left to slot expiry. */
  async after(ticket: Ticket, error?: DeliveryError): Promise<Wait | DeliveryError | undefined> {
    const { sessions, limiter, log, observer } = this.options;
    const outcome = outcomeOf(error);
    if (error) {
      ticket.entry.clearUntil = 0;
      ticket.entry.tokens = 0;
    }
    sessions.done(ticket.entry, ticket.contended);
    if ((outcome === "ok" || outcome === "pass") && this.seenOpen.delete(ticket.mailbox.id)) observer?.breaker?.(ticket.mailbox.id, false);
    if (outcome === undefined || ((outcome === "ok" || outcome === "pass") && !ticket.dirty)) return undefined;
    let released;
    try {
      released = await limiter.release(ticket.mailbox, {
        outcome, maxConnections: ticket.limits.maxConnections, retryAfterMs: error?.retryAfterMs,
        failure: error && (outcome === "throttle" || outcome === "breaker") ? JSON.stringify(error.toJSON()) : undefined,
      });
    } catch (err) {
      log.warn({ err, mailbox: ticket.mailbox.id }, "could not report the outcome of a send to the mailbox state");
      return undefined;
    }
    if (released.promote.length > 0) this.options.promote(released.promote);
    if (!error) return undefined;
    let proposal: WaitProposal | undefined;
    if (outcome === "throttle") {
      observer?.throttled?.(error.code);
      // Drop our sessions with it: new ones are opened under the lowered cap.
      this.options.retire(ticket.resolved);
      proposal = { ms: released.waitMs, reason: "throttled", bound: "throttle", detail: `the server throttles this mailbox: ${error.message}` };
    } else if (outcome === "quota") {
      proposal = { ms: released.waitMs, reason: "rate_limit", detail: `the provider's daily sending quota is used up: ${error.message}` };
    } else if (outcome === "breaker") {
      const open = released.status === "open";
      if (open && !this.seenOpen.has(ticket.mailbox.id)) {
        this.seenOpen.add(ticket.mailbox.id);
        observer?.breaker?.(ticket.mailbox.id, true);
      }
      proposal = open
        ? { ms: released.waitMs, reason: "breaker_open", bound: "breaker", mailboxId: ticket.mailbox.id, detail: `the mailbox's breaker is open: ${error.describe()}` }
        : { ms: BREAKER_RETRY_MS * Math.max(1, released.failures), reason: "backoff", bound: "breaker", mailboxId: ticket.mailbox.id, detail: error.describe() };
    }
    if (!proposal) return undefined;
    try {
      return (await this.hold(ticket.job, proposal)) ?? final(error, proposal);
    } catch (err) {
      // The wait could not be recorded: the failure takes the ordinary retry path instead.
      log.warn({ err, mailbox: ticket.mailbox.id }, "could not record a job's wait");
      return undefined;
    }
  }

  private async hold(job: WaitingJob, proposal: WaitProposal): Promise<Wait | null> {
    const wait = await this.options.waits.hold(job, proposal);
    if (wait) this.options.observer?.waited?.(wait.reason);
    return wait;
  }

  /** Per resolved config, once: its mailbox, limits, pool size and transport key. */
  private mailbox(resolved: ResolvedConfig): KnownConfig {
    let known = this.mailboxes.get(resolved);
    if (!known) {
      known = {
        mailbox: mailboxOf(resolved.config, this.options.masterKey),
        limits: effectiveLimits(resolved.config).limits,
        pooled: this.options.pooledConnections?.(resolved) ?? 0,
        key: this.options.transportKey(resolved),
      };
      this.mailboxes.set(resolved, known);
    }
    return known;
  }
}

/** A send that may go without asking: a rate token left, or the clean answer's window. */
function takeLocal(entry: SessionEntry): boolean {
  const now = Date.now();
  if (entry.tokens > 0 && entry.tokensUntil > now) {
    entry.tokens--;
    return true;
  }
  return entry.clearUntil > now;
}

function outcomeOf(error: DeliveryError | undefined): Outcome | undefined {
  if (!error) return "ok";
  if (error.kind === "throttle") return "throttle";
  if (error.kind === "quota") return "quota";
  if (error.kind === "breaker") return "breaker";
  // Refused after logging in: the credentials work, whatever was wrong with the message.
  if (error.stage === "send") return "pass";
  return undefined;
}

/** The reason a job fails with once it has waited as long as its bound allows. */
function final(failure: DeliveryError | undefined, proposal: WaitProposal): DeliveryError {
  const throttled = proposal.bound === "throttle";
  const base = failure ?? new DeliveryError(throttled ? "the server kept throttling this mailbox" : "the mailbox's breaker stayed open", {
    stage: "send", permanent: true, code: throttled ? "throttled" : "breaker_open",
    hint: throttled ? "lower the config's limits (maxConnections, messagesPerMinute) or spread the sends" : "fix the config and PUT it again",
  });
  const message = throttled ? `${base.message} (throttled longer than JOB_THROTTLE_MAX_MS in all)` : base.message;
  return new DeliveryError(message, { ...base.toJSON(), permanent: true });
}
