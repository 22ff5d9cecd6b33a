// Which of a mailbox's connection slots this process holds. A slot covers an SMTP session
// for its whole life, not only the send: a provider counts open sessions (an idle pooled
// connection counts against Microsoft 365's 3), so a slot is kept while its connection is
// open and given back when the connection closes. Per pooled transport:
// - `held`: slots this process holds (holder ids in the mailbox's sorted set);
// - `busy`: sends in flight (or about to be, once their acquire answers);
// - `sockets`: connections open or opening.
// - `pooled`: connections the transport opens at most (an SMTP pool); 0 when every send in
//   flight is a session of its own (Graph requests).
// Invariants: sockets ≤ held (a connection is opened only under a held slot: `admit` waits
// for a closing one to finish first), and busy ≤ held once acquired. A send reuses a held
// slot when busy < held (no slot round trip). When this process's slots already cover its
// pool's connections, or its requests for more would, a send waits in line here, up to
// QUEUE_WAIT_MS, for one of them to be free instead of asking Redis for a slot the pool
// could not use anyway; only after that does it ask (and, refused, wait in Redis). Slots
// beyond max(busy, sockets) are released at once, and released slots wake the jobs that
// waited for them. Held slots are renewed every second (at most a third of their expiry); a
// process that dies stops renewing and its slots expire.
import { randomBytes } from "node:crypto";
import type { Logger } from "../log.ts";
import type { Mailbox } from "./mailbox.ts";
import type { EffectiveLimits } from "./limits.ts";
import type { Limiter, SlotMode } from "./limiter.ts";

export interface SessionEntry {
  readonly key: string;
  readonly mailbox: Mailbox;
  limits: EffectiveLimits;
  held: string[];
  /** Connections of its pool; 0: not a pool (a slot per send in flight). */
  pooled: number;
  busy: number;
  /** Slot requests not answered yet. */
  asking: number;
  /**
   * Until then (performance.now() ms), the mailbox is known to be full (other replicas hold
   * its other slots): the slots held here are this process's share, and sends beyond them
   * wait in line for them instead of asking for more. 0: not known to be full.
   */
  fullUntil: number;
  /** Sends waiting in this process for a held slot to be free, or for an answer. */
  readonly line: ((handed: boolean) => void)[];
  /** Time between two sends finishing while every held slot was busy (moving average, ms; 0: not seen yet). */
  gapMs: number;
  /** performance.now() when a send last finished (0: none since the entry was last idle). */
  lastDoneAt: number;
  /** performance.now() when the entry last went from idle to busy. */
  busySince: number;
  /**
   * Until then (ms), a first-run send that needs no new slot skips the acquire: when last
   * asked, the mailbox had no breaker, throttle, quota or slot waiters, and it has no rate or
   * daily limit to count. 0: ask. (A failure, or waiters seen by the renewal, reset it.)
   */
  clearUntil: number;
  /** Rate tokens the last clean answer granted beyond its own send, usable until `tokensUntil` (ms). */
  tokens: number;
  tokensUntil: number;
  /** Settles when the send asking for more rate tokens has its answer. */
  refilling?: Promise<void>;
  sockets: number;
  /** Jobs were waiting for the mailbox's slots when we last looked. */
  contended: boolean;
  /** When a send last claimed a slot here (ms). */
  lastUsed: number;
  readonly admitting: (() => boolean)[];
}

/** What a send needs before it goes (see `claim`). */
export interface Claim {
  /** No held slot is free: the acquire must take one (`holder`), or say wait. */
  needSlot: boolean;
  holder: string;
  /**
   * How the acquire treats the slot request (limiter.ts): "turn" when the pool already has
   * all the connections it may open (the job can only wait for one of them), "queueable" when
   * this process holds slots it could queue the send on, else "take".
   */
  slotMode: SlotMode;
  /** With "turn": when its turn should come, at the pace this pool's sends finish (ms). */
  turnMs: number;
}

/** A send on a slot this process holds. */
const ON_HELD_SLOT: Claim = Object.freeze({ needSlot: false, holder: "", slotMode: "take", turnMs: 0 });

export interface SessionsOptions {
  limiter: Limiter;
  log: Logger;
  /** Jobs to move from delayed to waiting (a slot was freed for them). */
  promote(jobIds: string[]): void;
  /** Close the idle connections of a pooled transport (jobs wait for its slots). */
  retire(key: string): void;
  /** How long a new connection may wait for one of its transport's connections to close. Default 10 s. */
  admitTimeoutMs?: number;
}

/**
 * How long a send waits in this process for one of its pool's connections (held slots) to be
 * free before it asks for another slot, and, refused, waits in Redis instead. It only joins
 * the line when, at the pace the mailbox's sends have been finishing, its turn comes within
 * this bound. So a fast mailbox's pool takes a worker's whole concurrency, as the bare
 * transport's would, while a slow mailbox holds at most its `maxConnections` of a worker's
 * job slots and never starves other projects.
 */
export const QUEUE_WAIT_MS = 200;

/**
 * How long a full mailbox's slots held here count as this process's share (see `full`): one
 * acquire a second per process finds out whether another replica gave slots back.
 */
export const FULL_FOR_MS = 1000;

export class Sessions {
  private readonly entries = new Map<string, SessionEntry>();
  private readonly process = randomBytes(6).toString("base64url");
  private counter = 0;
  private readonly renewer: NodeJS.Timeout;

  constructor(private readonly options: SessionsOptions) {
    // Renewing also tells us whether jobs wait for the slots we hold idle: at most a second of hoarding.
    this.renewer = setInterval(() => void this.renewAll(), Math.max(50, Math.min(1000, Math.floor(options.limiter.slotTtlMs / 3)))).unref();
  }

  entry(key: string, mailbox: Mailbox, limits: EffectiveLimits, pooled = 0): SessionEntry {
    let entry = this.entries.get(key);
    if (!entry) {
      entry = { key, mailbox, limits, held: [], pooled, busy: 0, asking: 0, fullUntil: 0, line: [], gapMs: 0, lastDoneAt: 0, busySince: 0, clearUntil: 0, tokens: 0, tokensUntil: 0, sockets: 0, contended: false, lastUsed: 0, admitting: [] };
      this.entries.set(key, entry);
    }
    entry.limits = limits;
    entry.pooled = pooled;
    return entry;
  }

  /**
   * Counts a send as busy (before its acquire answers) and says whether it needs a new slot
   * (`mayQueue` false: a "full" answer was already met, so no "queueable" request again):
   * not when a held slot is free; otherwise, when the slots held (or asked for) cover the
   * pool's connections, only after waiting in line up to QUEUE_WAIT_MS for one to be free.
   * (A burst would otherwise ask for a slot per send, and the refused ones wait in Redis for
   * nothing; and a server refusing every login meets one send per connection at a time, so
   * the breaker hears of the failures before more are tried.)
   */
  async claim(entry: SessionEntry, mayQueue = true): Promise<Claim> {
    let deadline = 0;
    for (;;) {
      const held = entry.held.length;
      if (entry.busy < held) {
        if (entry.busy === 0) entry.busySince = performance.now();
        entry.busy++;
        entry.lastUsed = Date.now();
        return ON_HELD_SLOT;
      }
      const now = performance.now();
      // The connections this process can use: its pool's, or fewer while the mailbox is full.
      const cap = held > 0 && now < entry.fullUntil ? Math.min(held, entry.pooled) : entry.pooled;
      if (cap > 0 && entry.asking > 0 && held + entry.asking >= cap) {
        // The answers come within a round trip.
        if (await this.inLine(entry)) return ON_HELD_SLOT;
        continue;
      }
      // In line only when its turn should come within the bound, at the pace sends have been
      // finishing (or no faster than the time without one): a slow mailbox asks at once.
      const pace = Math.max(entry.gapMs, now - (entry.lastDoneAt || entry.busySince));
      if (cap > 0 && held >= cap && (deadline > 0 || (entry.line.length + 1) * pace <= QUEUE_WAIT_MS)) {
        deadline ||= now + QUEUE_WAIT_MS;
        if (now < deadline) {
          if (await this.inLine(entry, deadline - now)) return ON_HELD_SLOT;
          continue;
        }
      }
      if (entry.busy === 0) entry.busySince = now;
      entry.busy++;
      entry.asking++;
      entry.lastUsed = Date.now();
      // Its pool has every connection it may open: a slot more would be one it cannot use.
      const slotMode: SlotMode = cap > 0 && held >= cap ? "turn" : mayQueue && entry.pooled > 0 && held > 0 ? "queueable" : "take";
      return { needSlot: true, holder: `${this.process}:${++this.counter}`, slotMode, turnMs: Math.round((entry.line.length + 1) * pace) };
    }
  }

  /** The acquire granted the claim; `holder` is the new slot, if one was taken. */
  granted(entry: SessionEntry, holder: string): void {
    if (holder) {
      entry.held.push(holder);
      this.answered(entry);
      this.wakeAdmitting(entry);
    }
  }

  /**
   * The mailbox had no free slot, and this process holds some of them: for FULL_FOR_MS its
   * held slots are its share (its next sends wait for them here), then one send asks again.
   */
  full(entry: SessionEntry): void {
    entry.fullUntil = performance.now() + FULL_FOR_MS;
  }

  /**
   * The acquire refused the claim (or failed): the send is over. A refused request for a new
   * slot had no slot to hand on, and is no send that finished (no sample of the pace).
   */
  refused(entry: SessionEntry, holder: string): void {
    if (!holder) return this.done(entry);
    this.answered(entry);
    this.leave(entry);
  }

  private answered(entry: SessionEntry): void {
    entry.asking--;
    // Slots changed: everyone in line decides again.
    for (const wake of entry.line.splice(0)) wake(false);
  }

  /**
   * Waits in line. Resolves true when handed a held slot by a send that finished (it counts
   * as busy already), false when it should decide again (an answer came) or after `ms`.
   */
  private inLine(entry: SessionEntry, ms?: number): Promise<boolean> {
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const wake = (handed: boolean) => {
        clearTimeout(timer);
        resolve(handed);
      };
      entry.line.push(wake);
      if (ms !== undefined) {
        timer = setTimeout(() => {
          const i = entry.line.indexOf(wake);
          if (i >= 0) entry.line.splice(i, 1);
          resolve(false);
        }, ms);
      }
    });
  }

  /** The claimed send is over (sent, failed, or never admitted). */
  done(entry: SessionEntry, contended = false): void {
    if (contended) entry.contended = true;
    const now = performance.now();
    if (entry.lastDoneAt > 0 && entry.busy >= entry.held.length && entry.line.length > 0) {
      const gap = now - entry.lastDoneAt;
      entry.gapMs = entry.gapMs > 0 ? entry.gapMs + (gap - entry.gapMs) / 8 : gap;
    }
    entry.lastDoneAt = now;
    // Its slot goes straight to the first in line, which counts as busy in its place.
    const next = entry.line.shift();
    if (next) {
      entry.lastUsed = Date.now();
      next(true);
      return;
    }
    this.leave(entry);
  }

  /** One send fewer in flight. */
  private leave(entry: SessionEntry): void {
    entry.busy = Math.max(0, entry.busy - 1);
    // Idle: the next gap would measure the pause, not the pace.
    if (entry.busy === 0) entry.lastDoneAt = 0;
    if (entry.busy === 0 && entry.sockets === 0) this.trim(entry);
  }

  /** Slots this process holds for a pooled transport (its key): the connections it may have. */
  held(key: string): number {
    return this.entries.get(key)?.held.length ?? 0;
  }

  /** nodemailer's getSocket hook: a connection opens only under a held slot. Resolves to its release. */
  admit(key: string): Promise<() => void> {
    const entry = this.entries.get(key);
    if (!entry) return Promise.resolve(() => {});
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = entry.admitting.indexOf(tryAdmit);
        if (i >= 0) entry.admitting.splice(i, 1);
        reject(Object.assign(new Error("timed out waiting for a connection slot of this mailbox"), { code: "ETIMEDOUT" }));
      }, this.options.admitTimeoutMs ?? 10_000);
      const tryAdmit = (): boolean => {
        if (entry.sockets >= entry.held.length) return false;
        clearTimeout(timer);
        entry.sockets++;
        let closed = false;
        resolve(() => {
          if (closed) return;
          closed = true;
          entry.sockets--;
          this.wakeAdmitting(entry);
          if (entry.contended) this.trim(entry);
        });
        return true;
      };
      if (!tryAdmit()) entry.admitting.push(tryAdmit);
    });
  }

  /** Gives back every slot (shutdown). */
  async releaseAll(): Promise<void> {
    clearInterval(this.renewer);
    await Promise.all([...this.entries.values()].map((entry) => this.release(entry, entry.held.splice(0))));
  }

  private wakeAdmitting(entry: SessionEntry): void {
    while (entry.admitting.length > 0 && entry.sockets < entry.held.length) {
      const next = entry.admitting.shift()!;
      if (!next()) break;
    }
  }

  /**
   * Jobs wait for this mailbox's slots: close the connections we left idle for a second (only
   * when some are idle: a pool whose connections are all busy may have messages queued, and
   * closing it would fail them). Their slots are given back as they close.
   */
  private giveBack(entry: SessionEntry): void {
    if (entry.sockets > entry.busy && Date.now() - entry.lastUsed >= 1000) this.options.retire(entry.key);
  }

  private trim(entry: SessionEntry): void {
    const keep = Math.max(entry.busy, entry.sockets);
    if (entry.held.length > keep) void this.release(entry, entry.held.splice(keep));
    if (entry.held.length === 0 && entry.busy === 0 && entry.sockets === 0 && entry.asking === 0 && entry.line.length === 0) this.entries.delete(entry.key);
  }

  private async release(entry: SessionEntry, holders: string[]): Promise<void> {
    if (holders.length === 0) return;
    try {
      const { promote } = await this.options.limiter.release(entry.mailbox, { holders, maxConnections: entry.limits.maxConnections });
      if (promote.length > 0) this.options.promote(promote);
    } catch (err) {
      // The slots expire by themselves.
      this.options.log.warn({ err, mailbox: entry.mailbox.id }, "could not release connection slots");
    }
  }

  private async renewAll(): Promise<void> {
    const entries = [...this.entries.values()].filter((e) => e.held.length > 0);
    try {
      const waiting = await this.options.limiter.renew(entries.map((e) => ({ mailbox: e.mailbox, holders: e.held })));
      entries.forEach((entry, i) => {
        entry.contended = (waiting[i] ?? 0) > 0;
        if (entry.contended) {
          entry.clearUntil = 0;
          entry.tokens = 0;
          this.giveBack(entry);
        }
        this.trim(entry);
      });
    } catch (err) {
      this.options.log.warn({ err }, "could not renew connection slots");
    }
  }
}
