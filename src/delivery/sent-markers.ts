// The 250 marker: written the moment a server accepts a message, read only when a job runs
// again (a retry or a job recovered from a crashed worker), so a message is not sent twice.
import type { Redis } from "ioredis";
import type { Keys } from "../keys.ts";
import type { SendResult } from "../jobs/contracts.ts";

export class SentMarkers {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    /** Longer than any job can keep retrying. Default 7 days. */
    private readonly ttlSeconds = 7 * 86_400,
  ) {}

  async get(jobId: string): Promise<SendResult | null> {
    const raw = await this.redis.get(this.keys.sent(jobId));
    return raw ? (JSON.parse(raw) as SendResult) : null;
  }

  async set(jobId: string, result: SendResult): Promise<void> {
    await this.redis.set(this.keys.sent(jobId), JSON.stringify(result), "EX", this.ttlSeconds);
  }
}
