// The circuit breaker of a mailbox: closed → open → half-open → closed.
// - closed: sends go. Each failure no retry can cure (DeliveryError kind "breaker") counts;
//   a send that got past authentication resets the count. The 5th in a row opens it.
// - open: no send; jobs wait (src/delivery/wait.ts) until the next probe time.
// - half-open: the first job after the probe time is the probe; the others keep waiting.
//   Success closes the breaker and promotes every waiting job; failure reopens it for 60 s.
// - A PUT of a project's config closes the breaker of the config's mailbox at once and
//   promotes its waiting jobs (src/mailbox/admin.ts).
// The state lives in the mailbox's hash (fields bs, bp, bf, be, bsn), so every replica sees
// the same breaker; the transitions run inside the limiter's scripts.
import type { Redis } from "ioredis";
import type { Keys } from "../keys.ts";
import type { Mailbox } from "./mailbox.ts";
import { DeliveryError, type DeliveryErrorFields } from "../errors.ts";
import { LUA_NOW, LuaScript } from "./script.ts";

/** Failures in a row that open the breaker. */
export const BREAKER_THRESHOLD = 5;
/** How often an open breaker lets one probe through. */
export const BREAKER_PROBE_MS = 60_000;

export type BreakerState = "closed" | "open" | "half-open";

export interface MailboxHealth {
  state: BreakerState;
  /** When the breaker last changed state (ISO), null if it never did. */
  since: string | null;
  /** While not closed: the failure that opened it, as a job's reason reads. */
  lastError: string | null;
}

/**
 * Lua, state hash fields: `bs` (absent = closed, "open", "half"), `bp` (next probe time),
 * `bf` (failures in a row), `be` (the last failure, DeliveryError JSON), `bsn` (since).
 */
export const BREAKER_LUA = `
local function breaker_failure(state, now, failure, threshold, probeMs)
  local f = rcall('HMGET', state, 'bs', 'bp')
  local fails = rcall('HINCRBY', state, 'bf', 1)
  rcall('HSET', state, 'be', failure)
  if f[1] == 'half' or (not f[1] and fails >= threshold) then
    rcall('HSET', state, 'bs', 'open', 'bp', now + probeMs)
    if not f[1] then rcall('HSET', state, 'bsn', now) end
    return {'open', now + probeMs}
  end
  if f[1] == 'open' then return {'open', tonumber(f[2])} end
  return {'closed', fails}
end

local function breaker_success(state, waiters, now, promote)
  local f = rcall('HMGET', state, 'bs', 'bf')
  if not f[1] and not f[2] then return end
  rcall('HDEL', state, 'bs', 'bp', 'bf', 'be')
  if f[1] then
    rcall('HSET', state, 'bsn', now)
    local ids = rcall('HKEYS', waiters)
    rcall('DEL', waiters)
    for i = 1, #ids do promote[#promote + 1] = ids[i] end
  end
end
`;

/** The breaker as GET …/smtp-config shows it. */
export async function readHealth(redis: Redis, keys: Keys, mailbox: Mailbox): Promise<MailboxHealth> {
  const [bs, bsn, be] = await redis.hmget(keys.mailbox(mailbox.id), "bs", "bsn", "be");
  const state: BreakerState = bs === "open" ? "open" : bs === "half" ? "half-open" : "closed";
  return {
    state,
    since: bsn ? new Date(Number(bsn)).toISOString() : null,
    lastError: state !== "closed" && be ? storedFailure(be).describe() : null,
  };
}

const CLOSE = new LuaScript(`${LUA_NOW}
local bs = rcall('HGET', KEYS[1], 'bs')
rcall('HDEL', KEYS[1], 'bs', 'bp', 'bf', 'be')
if bs then rcall('HSET', KEYS[1], 'bsn', now) end
local ids = rcall('HKEYS', KEYS[2])
rcall('DEL', KEYS[2])
return ids
`);

/** Closes the breaker (a PUT fixed the config); returns the ids of the jobs that waited for it. */
export async function closeBreaker(redis: Redis, keys: Keys, mailbox: Mailbox): Promise<string[]> {
  const ids = await CLOSE.run(redis, [keys.mailbox(mailbox.id), keys.mailboxBreakerWaiters(mailbox.id)], []);
  return Array.isArray(ids) ? ids.map(String) : [];
}

/** The jobs of one project waiting for a mailbox's breaker (its config moved to another mailbox). */
export async function takeProjectWaiters(redis: Redis, keys: Keys, mailbox: Mailbox, projectId: string): Promise<string[]> {
  const key = keys.mailboxBreakerWaiters(mailbox.id);
  const all = await redis.hgetall(key);
  const ids = Object.entries(all).filter(([, p]) => p === projectId).map(([id]) => id);
  if (ids.length > 0) await redis.hdel(key, ...ids);
  return ids;
}

/** A failure as the breaker stored it. */
export function storedFailure(json: string): DeliveryError {
  try {
    const fields = JSON.parse(json) as DeliveryErrorFields & { message: string };
    return new DeliveryError(fields.message, fields);
  } catch {
    return new DeliveryError("the mailbox's breaker is open", { stage: "send", permanent: true, code: "breaker_open", kind: "breaker" });
  }
}
