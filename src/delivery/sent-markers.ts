// The 250 marker: written the moment a server accepts a message, read only when a job runs
// again (a retry or a job recovered from a crashed worker), so a message is not sent twice.
// Its write outlives a Redis outage of any length: it is retried until it lands (or the
// process gives up at the end of its shutdown grace), because a marker that is lost while the
// job's lock expires is exactly how an email goes out twice.
import type { Redis } from "ioredis";
import type { Keys } from "../keys.ts";
import type { SendResult } from "../jobs/contracts.ts";
import type { Logger } from "../log.ts";
import { RECONNECT_MAX_MS } from "../redis.ts";

export interface SentMarkersOptions {
  /** Longer than any job can keep retrying. Default 7 days. */
  ttlSeconds?: number;
  /** Told (at debug) when a write had to wait for Redis. */
  log?: Logger;
}

export class MarkerAbandonedError extends Error {
  override name = "MarkerAbandonedError";
}

export class SentMarkers {
  private readonly ttlSeconds: number;
  private readonly abandoned = new AbortController();
  private readyOrAbort: Promise<void> | undefined;

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly options: SentMarkersOptions = {},
  ) {
    this.ttlSeconds = options.ttlSeconds ?? 7 * 86_400;
  }

  async get(jobId: string): Promise<SendResult | null> {
    const raw = await this.redis.get(this.keys.sent(jobId));
    return raw ? (JSON.parse(raw) as SendResult) : null;
  }

  /** Resolves once the marker is in Redis; rejects only after `abandon()`. */
  async set(jobId: string, result: SendResult): Promise<void> {
    const value = JSON.stringify(result);
    for (let attempt = 1; ; attempt++) {
      try {
        await this.redis.set(this.keys.sent(jobId), value, "EX", this.ttlSeconds);
        if (attempt > 1) this.options.log?.debug({ jobId, attempt }, "250 marker written after Redis came back");
        return;
      } catch (err) {
        if (this.abandoned.signal.aborted) throw new MarkerAbandonedError(`gave up writing the 250 marker of ${jobId}: ${(err as Error).message}`);
        if (attempt === 1) this.options.log?.debug({ jobId }, "250 marker waits for Redis");
        await this.nextTry();
      }
    }
  }

  /** Shutdown grace is over: pending writes stop retrying. */
  abandon(): void {
    this.abandoned.abort();
  }

  /** The connection's next "ready", or a short pause; whichever comes first. One listener
   *  however many jobs are waiting (a listener each would trip Node's leak warning). */
  private nextTry(): Promise<void> {
    this.readyOrAbort ??= new Promise<void>((resolve) => {
      const done = () => {
        this.redis.off("ready", done);
        this.abandoned.signal.removeEventListener("abort", done);
        this.readyOrAbort = undefined;
        resolve();
      };
      this.redis.once("ready", done);
      this.abandoned.signal.addEventListener("abort", done, { once: true });
    });
    return Promise.race([this.readyOrAbort, new Promise<void>((r) => setTimeout(r, RECONNECT_MAX_MS / 2))]);
  }
}
