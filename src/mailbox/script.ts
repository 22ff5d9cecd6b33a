// A Lua script run with EVALSHA (one round trip), loading it with EVAL only when Redis does
// not know it yet (first use, or after a restart or failover flushed the script cache).
import { createHash } from "node:crypto";
import type { Redis } from "ioredis";

export type LuaReply = string | number | null | LuaReply[];

export class LuaScript {
  readonly sha: string;

  constructor(readonly source: string) {
    this.sha = createHash("sha1").update(source).digest("hex");
  }

  async run(redis: Redis, keys: readonly string[], args: readonly (string | number)[]): Promise<LuaReply> {
    try {
      return (await redis.evalsha(this.sha, keys.length, ...keys, ...args)) as LuaReply;
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith("NOSCRIPT")) throw err;
      return (await redis.eval(this.source, keys.length, ...keys, ...args)) as LuaReply;
    }
  }
}

/** Redis's clock in ms, as the first lines of every script: one clock for every replica. */
export const LUA_NOW = `
local rcall = redis.call
local clock = rcall('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
`;
