// Backing a mailbox off when its server throttles us (432 4.3.2, 421/450 4.7.x, 454 4.7.0,
// Graph 429), and waiting out a daily quota (554 5.2.0 SubmissionQuotaExceeded, 550 5.4.5).
//
// Two things happen on a throttling reply, both shared by every replica through the mailbox's
// Redis hash (the Lua below runs inside the release script, src/mailbox/limiter.ts):
// - a pause: no send to the mailbox until `tu` (throttled-until). Retry-After wins when the
//   server gives one; otherwise 1 s, doubling for each throttle episode in a row, up to 5 min.
//   Replies that arrive during a pause belong to the same episode and do not lengthen it.
// - a lower concurrency, AIMD (additive increase, multiplicative decrease, as TCP does):
//   the cap becomes half of the connections in use (floor 1), and grows by 1 for every window
//   of `cap` successful sends, until it is back at maxConnections. Why AIMD: a provider's
//   limit is a number we do not know and that changes with its load (Exchange Online answers
//   432 4.3.2 when a mailbox has more sessions than it allows right now). Halving gets under
//   that number in a step or two, whatever it is; creeping back up by one finds it again
//   without a burst; and replicas that share the state converge instead of oscillating.
//   A fixed cool-down would either stay too low for long or return to the level that failed.

/** The first pause without Retry-After, doubled per episode. */
export const THROTTLE_BASE_MS = 1000;
/** The longest pause without Retry-After. */
export const THROTTLE_MAX_MS = 5 * 60_000;

/**
 * Lua, state hash fields: `cap` (AIMD concurrency, absent = maxConnections), `succ` (successes
 * in the current window), `tu` (paused until), `tn` (episodes in a row), `te` (the last
 * throttling reply, for the reason a job fails with after JOB_THROTTLE_MAX_MS), `qu` (quota
 * used up until).
 */
export const THROTTLE_LUA = `
local function aimd_success(state, maxConn)
  local f = rcall('HMGET', state, 'cap', 'succ', 'tn')
  if f[3] then rcall('HDEL', state, 'tn') end
  local cap = tonumber(f[1])
  if not cap then return end
  local succ = (tonumber(f[2]) or 0) + 1
  if succ < cap then
    rcall('HSET', state, 'succ', succ)
  elseif cap + 1 >= maxConn then
    rcall('HDEL', state, 'cap', 'succ')
  else
    rcall('HSET', state, 'cap', cap + 1, 'succ', 0)
  end
end

local function throttle(state, slots, now, maxConn, retryAfter, baseMs, maxMs, reply)
  local f = rcall('HMGET', state, 'cap', 'tu', 'tn')
  rcall('ZREMRANGEBYSCORE', slots, '-inf', now)
  local inUse = math.max(rcall('ZCARD', slots), 1)
  local cap = math.max(1, math.floor(math.min(tonumber(f[1]) or maxConn, inUse) / 2))
  rcall('HSET', state, 'cap', cap, 'succ', 0, 'te', reply)
  local tu = tonumber(f[2]) or 0
  if now < tu then
    if retryAfter and now + retryAfter > tu then
      tu = now + retryAfter
      rcall('HSET', state, 'tu', tu)
    end
    return tu
  end
  local tn = (tonumber(f[3]) or 0) + 1
  local pause = retryAfter or math.min(baseMs * math.pow(2, tn - 1), maxMs)
  tu = now + math.floor(pause)
  rcall('HSET', state, 'tu', tu, 'tn', tn)
  return tu
end

local function quota(state, now, retryAfter, dayMs)
  local qu = now + (retryAfter or ((math.floor(now / dayMs) + 1) * dayMs - now))
  local old = tonumber(rcall('HGET', state, 'qu')) or 0
  if qu > old then rcall('HSET', state, 'qu', qu) else qu = old end
  return qu
end
`;
