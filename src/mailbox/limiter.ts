// A mailbox's limits enforced in Redis, atomically for every replica: one Lua script to
// acquire (breaker, quota, throttle pause, daily window, connection slot, steady rate) and
// one to release (free slots, hand them to waiting jobs, and record how a send went: AIMD,
// throttle pause, quota, breaker). Every decision is made inside a script on Redis's clock,
// so there is no read-then-write race between replicas and no clock skew between them.
//
// - Connection slots: a sorted set of holders scored by expiry. A holder renews while it
//   keeps the connection; one that died stops renewing and is pruned on the next acquire.
// - Steady rate (messagesPerMinute): GCRA, sends spaced 60000 / messagesPerMinute ms apart,
//   with a burst of 100 ms worth of sends (at least 1, at most maxConnections): 1 for any rate
//   up to 600/min (Exchange's 30/min is strictly spaced), so a rolling minute holds at most the
//   limit plus 0.2 %, and a high rate is not throttled by sends that start in the same ms.
//   Jobs told to wait are given successive turns (`rq`), so they do not all wake at once.
// - Daily window (messagesPerDay): a counter for the current UTC day.
import type { Redis } from "ioredis";
import type { Keys } from "../keys.ts";
import type { Mailbox } from "./mailbox.ts";
import type { EffectiveLimits } from "./limits.ts";
import { LUA_NOW, LuaScript, type LuaReply } from "./script.ts";
import { THROTTLE_BASE_MS, THROTTLE_LUA, THROTTLE_MAX_MS } from "./throttle.ts";
import { BREAKER_LUA, BREAKER_PROBE_MS, BREAKER_THRESHOLD } from "./breaker.ts";

// Waits no bound applies to (slot, rate, day, quota) are recorded on the job here, in the same
// round trip (keys.jobWait, read by GET /v1/jobs/:id); throttle and breaker waits are bounded
// per job and recorded by src/delivery/wait.ts.
const ACQUIRE = new LuaScript(`${LUA_NOW}
local state, slots, waiters, jobWait = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local maxConn, interval, perDay = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local needSlot, holder, slotTtl, dayMs = ARGV[4] == '1', ARGV[5], tonumber(ARGV[6]), tonumber(ARGV[7])
local probeMs, jobId, stateTtl, ats, tau = tonumber(ARGV[8]), ARGV[9], tonumber(ARGV[10]), ARGV[11], tonumber(ARGV[12])
local want = tonumber(ARGV[13]) or 1
local s = rcall('HMGET', state, 'bs', 'bp', 'qu', 'tu', 'cap', 'tat', 'rq', 'dn', 'dc', 'bf', 'tn', 'be', 'te', 'aw', 'an', 'ar')

local function wait(ms, reason, detail)
  rcall('HSET', jobWait, 'reason', 'rate_limit', 'until', now + ms, 'detail', detail, 'ats', ats)
  rcall('PEXPIRE', jobWait, ms + 86400000)
  return {0, ms, reason, ''}
end

-- Checks first, writes after: a job that must wait takes nothing (no probe, slot or token).
local probe = false
if s[1] then
  local bp = tonumber(s[2]) or 0
  if now < bp then return {0, bp - now, 'breaker_open', s[12] or ''} end
  probe = true
end
local qu = tonumber(s[3]) or 0
if now < qu then return wait(qu - now, 'quota', "the provider's daily sending quota is used up") end
local tu = tonumber(s[4]) or 0
if now < tu then return {0, tu - now, 'throttled', s[13] or ''} end
local day = math.floor(now / dayMs)
local dc = 0
if tonumber(s[8]) == day then dc = tonumber(s[9]) or 0 end
if perDay > 0 and dc >= perDay then return wait((day + 1) * dayMs - now, 'day', perDay .. ' messages sent today (UTC), the daily limit') end
local waiting = rcall('ZCARD', waiters)
if needSlot then
  local eff = maxConn
  local cap = tonumber(s[5])
  if cap and cap < eff then eff = cap end
  rcall('ZREMRANGEBYSCORE', slots, '-inf', now)
  -- '2': the caller's pool has every connection it may open. It may borrow a spare slot (the
  -- send queues on its pool) only while another stays free and nobody waits, so no other
  -- replica is starved; else it waits for its own connections, at the caller's estimate,
  -- with no place in the mailbox's line (a slot freed elsewhere is no turn of its own; and
  -- waiters make every replica ask each send).
  if ARGV[14] == '2' and (waiting > 0 or rcall('ZCARD', slots) + 1 >= eff) then
    return wait(math.max(20, math.min(slotTtl, tonumber(ARGV[15]) or 100)), 'slot', "all the connections of this worker's pool to the mailbox are in use")
  end
  if rcall('ZCARD', slots) >= eff then
    -- The caller holds slots it can queue this send on: it waits for them in its own process.
    if ARGV[14] == '1' then return {0, 0, 'full', ''} end
    -- In line by first wait; woken at its estimated turn (its place in line over the rate the
    -- mailbox admits sends), or earlier by a release, which pops the oldest waiter. So a long
    -- backlog comes back about once per job, not in a poll.
    rcall('ZREMRANGEBYSCORE', waiters, '-inf', now - 600000)
    rcall('ZADD', waiters, 'NX', now, jobId)
    rcall('PEXPIRE', waiters, stateTtl)
    local rank = rcall('ZRANK', waiters, jobId) or 0
    local aw = tonumber(s[14]) or now
    local rate = math.max(tonumber(s[16]) or 0, (tonumber(s[15]) or 0) / math.max(now - aw, 100))
    local ms = slotTtl
    if rate > 0 then ms = math.min(slotTtl, math.max(20, math.floor((rank + 1) / rate))) end
    return wait(ms, 'slot', 'all ' .. eff .. ' connections of this mailbox are in use')
  end
end
local tat = tonumber(s[6]) or 0
if interval > 0 and now < tat - tau then
  local at = math.max(tat, tonumber(s[7]) or 0)
  rcall('HSET', state, 'rq', at + interval)
  rcall('PEXPIRE', state, stateTtl)
  if waiting > 0 then rcall('ZREM', waiters, jobId) end
  return wait(math.max(1, at - tau - now), 'rate', 'spacing sends to ' .. math.floor(60000 / interval + 0.5) .. ' a minute')
end

-- Sends the rate allows right now, up to 'want' (the first is this one): within the burst.
local granted = 1
if interval > 0 then
  local from = math.max(tat, now)
  if want > 1 then granted = math.max(1, math.min(want, 1 + math.floor((now + tau - from) / interval))) end
  rcall('HSET', state, 'tat', from + granted * interval)
end
if perDay > 0 then rcall('HSET', state, 'dn', day, 'dc', dc + 1) end
if probe then rcall('HSET', state, 'bs', 'half', 'bp', now + probeMs) end
-- The admission rate, per 1 s window: what a slot waiter's turn is estimated from.
local aw = tonumber(s[14])
if not aw or now - aw >= 1000 then
  if aw then rcall('HSET', state, 'ar', ((tonumber(s[15]) or 0) + 1) / math.max(now - aw, 1)) end
  rcall('HSET', state, 'aw', now, 'an', 0)
else
  rcall('HINCRBY', state, 'an', 1)
end
rcall('PEXPIRE', state, stateTtl)
if needSlot then
  rcall('ZADD', slots, now + slotTtl, holder)
  rcall('PEXPIRE', slots, stateTtl)
end
if waiting > 0 then rcall('ZREM', waiters, jobId) end
if not probe then rcall('HDEL', jobWait, 'bsince') end
-- dirty: the release must report a success (to grow the AIMD cap, reset failures, close a probe).
local dirty = 0
if s[5] or s[10] or s[11] or probe then dirty = 1 end
return {1, dirty, probe and 1 or 0, waiting, granted}
`);

const RELEASE = new LuaScript(`${LUA_NOW}${THROTTLE_LUA}${BREAKER_LUA}
local state, slots, waiters, breakerWaiters = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local outcome, maxConn, retryAfter, failure = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local threshold, probeMs, dayMs = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local baseMs, maxMs, stateTtl = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
local promote = {}
if #ARGV > 10 then
  local holders = {}
  for i = 11, #ARGV do holders[#holders + 1] = ARGV[i] end
  local removed = rcall('ZREM', slots, unpack(holders))
  if removed > 0 then
    -- Freed slots go to the jobs that waited longest (a spare one covers a waiter that left).
    local popped = rcall('ZPOPMIN', waiters, removed * 2)
    for i = 1, #popped, 2 do promote[#promote + 1] = popped[i] end
  end
end
local status, value = 'released', 0
if outcome == 'ok' or outcome == 'pass' then
  if outcome == 'ok' then aimd_success(state, maxConn) end
  breaker_success(state, breakerWaiters, now, promote)
  status = 'ok'
elseif outcome == 'throttle' then
  status, value = 'throttled', throttle(state, slots, now, maxConn, retryAfter, baseMs, maxMs, failure)
elseif outcome == 'quota' then
  status, value = 'quota', quota(state, now, retryAfter, dayMs)
elseif outcome == 'breaker' then
  local r = breaker_failure(state, now, failure, threshold, probeMs)
  status, value = r[1], r[2]
end
if outcome ~= '' then rcall('PEXPIRE', state, stateTtl) end
local reply = {status, value, now}
for i = 1, #promote do reply[#reply + 1] = promote[i] end
return reply
`);

// Every mailbox this process holds slots of, in one call (their keys share the deployment's
// hash tag): KEYS = slots, waiters per mailbox; ARGV = ttl, then per mailbox a count and its holders.
const RENEW = new LuaScript(`${LUA_NOW}
local ttl = tonumber(ARGV[1])
local at = 2
local waiting = {}
for k = 1, #KEYS, 2 do
  local n = tonumber(ARGV[at])
  for i = at + 1, at + n do rcall('ZADD', KEYS[k], 'XX', now + ttl, ARGV[i]) end
  at = at + n + 1
  waiting[#waiting + 1] = rcall('ZCARD', KEYS[k + 1])
end
return waiting
`);

/**
 * Why an acquire said "wait". "full": every slot is held and the request was `queueable`;
 * nothing was recorded, the send waits for its own process's slots instead.
 */
export type LimitReason = "slot" | "full" | "rate" | "day" | "quota" | "throttled" | "breaker_open";

export type AcquireResult =
  | {
      ok: true;
      /** The release must report the outcome. */ dirty: boolean;
      probe: boolean;
      /** Jobs wait for a slot. */ contended: boolean;
      /** Sends the rate allowed, this one included (at most the request's `sends`). */ sends: number;
    }
  | {
      ok: false;
      ms: number;
      reason: LimitReason;
      /** For throttled / breaker_open: the stored failure (DeliveryError JSON). */
      failure?: string;
      /** The wait is already recorded on the job (no bound applies to it). */
      recorded: boolean;
    };

/** How an acquire treats a slot request (see `acquire`). */
export type SlotMode = "take" | "queueable" | "turn";

export interface AcquireRequest {
  needSlot: boolean;
  holder: string;
  jobId: string;
  attemptsStarted?: number;
  sends?: number;
  slotMode?: SlotMode;
  /** With slotMode "turn": how long until the caller's pool should have a connection free (ms). */
  turnMs?: number;
}

const SLOT_MODES = { take: 0, queueable: 1, turn: 2 } as const;

/** How a send went, as far as the mailbox is concerned. "pass": refused after authenticating. */
export type Outcome = "ok" | "pass" | "throttle" | "quota" | "breaker";

export interface ReleaseRequest {
  outcome?: Outcome;
  /** Slots to free. */
  holders?: readonly string[];
  maxConnections: number;
  retryAfterMs?: number;
  /** For throttle and breaker: the failure (DeliveryError JSON). */
  failure?: string;
}

export interface ReleaseResult {
  /** "ok", "throttled", "quota", "open" (breaker), "closed" (breaker counted, not open), "released". */
  status: string;
  /** For throttled, quota and open: ms until the mailbox may send again. */
  waitMs: number;
  /** For closed: breaker failures in a row so far. */
  failures: number;
  /** Jobs to promote now: slot waiters given a freed slot, or breaker waiters after a close. */
  promote: string[];
}

export interface LimiterOptions {
  /** A slot not renewed for this long is free. Default 10 s (holders renew every third of it). */
  slotTtlMs?: number;
  /** The messagesPerDay window. Default 86400000 (UTC days). */
  dayMs?: number;
  /** Breaker probe interval. Default 60 s. */
  probeMs?: number;
  /** Mailbox state untouched this long is forgotten. Default 2 days. */
  stateTtlMs?: number;
}

export class Limiter {
  readonly slotTtlMs: number;
  private readonly dayMs: number;
  private readonly probeMs: number;
  private readonly stateTtlMs: number;

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    options: LimiterOptions = {},
  ) {
    this.slotTtlMs = options.slotTtlMs ?? 10_000;
    this.dayMs = options.dayMs ?? 86_400_000;
    this.probeMs = options.probeMs ?? BREAKER_PROBE_MS;
    this.stateTtlMs = options.stateTtlMs ?? 2 * 86_400_000;
  }

  /**
   * One round trip. `needSlot`: the caller has no idle connection slot of its own for this
   * mailbox. `sends` (default 1): rate tokens wanted, this send's included; more than 1 only
   * within the rate's burst, and only without a daily limit (tokens left unused are lost).
   * `slotMode` (with `needSlot`): "queueable", the caller already holds slots of this mailbox
   * it could queue the send on, so a full mailbox answers "full" instead of putting the job in
   * line for a slot; "turn", the caller's pool has all the connections it may open, so it takes
   * a spare slot only while another stays free and no job waits, else the job waits `turnMs`
   * (recorded, but not in the mailbox's line). Default "take".
   */
  async acquire(mailbox: Mailbox, limits: EffectiveLimits, request: AcquireRequest): Promise<AcquireResult> {
    const interval = limits.messagesPerMinute ? 60_000 / limits.messagesPerMinute : 0;
    const burst = limits.messagesPerMinute ? Math.max(1, Math.min(limits.maxConnections, Math.floor(limits.messagesPerMinute / 600))) : 1;
    const reply = await ACQUIRE.run(this.redis, this.mailboxKeys(mailbox, this.keys.jobWait(request.jobId)), [
      limits.maxConnections, interval, limits.messagesPerDay ?? 0, request.needSlot ? 1 : 0, request.holder,
      this.slotTtlMs, this.dayMs, this.probeMs, request.jobId, this.stateTtlMs, request.attemptsStarted ?? 0, (burst - 1) * interval,
      limits.messagesPerDay ? 1 : Math.min(request.sends ?? 1, burst), SLOT_MODES[request.slotMode ?? "take"], request.turnMs ?? 100,
    ]);
    const [ok, a, b, c, d] = reply as [number, number, number | string, number | string, number | undefined];
    if (ok === 1) return { ok: true, dirty: a === 1, probe: b === 1, contended: Number(c) > 0, sends: Number(d ?? 1) };
    const reason = b as LimitReason;
    return { ok: false, ms: Math.max(0, a), reason, recorded: reason !== "throttled" && reason !== "breaker_open" && reason !== "full", ...(c ? { failure: String(c) } : {}) };
  }

  async release(mailbox: Mailbox, request: ReleaseRequest): Promise<ReleaseResult> {
    const reply = (await RELEASE.run(this.redis, this.mailboxKeys(mailbox, this.keys.mailboxBreakerWaiters(mailbox.id)), [
      request.outcome ?? "", request.maxConnections, request.retryAfterMs ?? "", request.failure ?? "",
      BREAKER_THRESHOLD, this.probeMs, this.dayMs, THROTTLE_BASE_MS, THROTTLE_MAX_MS, this.stateTtlMs,
      ...(request.holders ?? []),
    ])) as LuaReply[];
    const [status, value, now, ...promote] = reply;
    const timed = status === "throttled" || status === "quota" || status === "open";
    return {
      status: String(status),
      waitMs: timed ? Math.max(0, Number(value) - Number(now)) : 0,
      failures: status === "closed" ? Number(value) : 0,
      promote: promote.map(String),
    };
  }

  /** Extends the holders' slots of each mailbox (one round trip); answers how many jobs wait for each mailbox's slots. */
  async renew(held: readonly { mailbox: Mailbox; holders: readonly string[] }[]): Promise<number[]> {
    if (held.length === 0) return [];
    const keys = held.flatMap(({ mailbox }) => [this.keys.mailboxSlots(mailbox.id), this.keys.mailboxSlotWaiters(mailbox.id)]);
    const args = held.flatMap(({ holders }) => [holders.length, ...holders]);
    const reply = await RENEW.run(this.redis, keys, [this.slotTtlMs, ...args]);
    return (reply as number[]).map(Number);
  }

  private mailboxKeys(mailbox: Mailbox, fourth: string): string[] {
    return [this.keys.mailbox(mailbox.id), this.keys.mailboxSlots(mailbox.id), this.keys.mailboxSlotWaiters(mailbox.id), fourth];
  }
}
