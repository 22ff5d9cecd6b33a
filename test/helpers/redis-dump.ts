// Every value stored under a key prefix, read according to its type, as one searchable text:
// lets secret-leak tests look at everything a deployment wrote to Redis.
import type { Redis } from "ioredis";

export interface PrefixDump {
  /** Keys read. */
  keys: string[];
  /** One line per key: `<key> <JSON of its value>`. */
  text: string;
}

export async function dumpPrefix(redis: Redis, prefix: string): Promise<PrefixDump> {
  const pattern = `${prefix.replace(/[*?[\]\\]/g, "\\$&")}*`;
  const keys: string[] = [];
  const parts: string[] = [];
  let cursor = "0";
  do {
    const [next, batch] = await redis.scan(cursor, "MATCH", pattern, "COUNT", 500);
    cursor = next;
    for (const key of batch) {
      const type = await redis.type(key);
      let value: unknown;
      if (type === "string") value = await redis.get(key);
      else if (type === "hash") value = await redis.hgetall(key);
      else if (type === "list") value = await redis.lrange(key, 0, -1);
      else if (type === "set") value = await redis.smembers(key);
      else if (type === "zset") value = await redis.zrange(key, 0, -1, "WITHSCORES");
      else if (type === "stream") value = await redis.xrange(key, "-", "+");
      else if (type === "none") continue; // expired or removed between SCAN and TYPE
      else throw new Error(`key ${key} has a type dumpPrefix cannot read: ${type}`);
      keys.push(key);
      parts.push(`${key} ${JSON.stringify(value)}`);
    }
  } while (cursor !== "0");
  return { keys, text: parts.join("\n") };
}
