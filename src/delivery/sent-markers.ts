// The 250 marker: written the moment a server accepts a message, read only when a job runs
// again (a retry or a job recovered from a crashed worker), so a message is not sent twice.
// Its write outlives a Redis outage of any length: it is retried until it lands (or the
// process gives up at the end of its shutdown grace), because a marker that is lost while the
// job's lock expires is exactly how an email goes out twice.
import type { Redis } from "ioredis";
import type { Keys } from "../keys.ts";
import type { SendResult } from "../jobs/contracts.ts";
import type { Logger } from "../log.ts";
import { isCluster, RECONNECT_MAX_MS } from "../redis.ts";
import { ReplicaAckError, ReplicaAcks } from "../redis/replica-ack.ts";

export interface SentMarkersOptions {
  /** Longer than any job can keep retrying. Default 7 days. */
  ttlSeconds?: number;
  /** Told (at debug) when a write had to wait for Redis. */
  log?: Logger;
  /**
   * REDIS_WAIT_REPLICAS: after the marker lands, wait until this many replicas have it, so a
   * failover cannot lose it (and send the email again). Too few, even after one more try, is
   * logged, not a failure: the email has gone out. A connection lost meanwhile (a failover)
   * writes the marker again, to whichever master there is now. Default 0.
   */
  waitReplicas?: number;
  /**
   * The worker's BullMQ connection. With it (and no `waitReplicas`), `markBeforeCompletion`
   * writes the marker on it in the same write as the job's completion that follows, which
   * Redis then runs in that order: one round trip per email instead of two. Default none.
   */
  completion?: Redis;
}

/** One warn line per this long when markers cannot reach their replicas; debug in between. */
const REPLICA_WARN_EVERY_MS = 60_000;

export class MarkerAbandonedError extends Error {
  override name = "MarkerAbandonedError";
}

export class SentMarkers {
  private readonly ttlSeconds: number;
  private readonly abandoned = new AbortController();
  private readyOrAbort: Promise<void> | undefined;
  private readonly acks: ReplicaAcks;
  private lastReplicaWarn = 0;

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly options: SentMarkersOptions = {},
  ) {
    this.ttlSeconds = options.ttlSeconds ?? 7 * 86_400;
    this.acks = new ReplicaAcks(redis, { replicas: options.waitReplicas ?? 0 });
  }

  async get(jobId: string): Promise<SendResult | null> {
    const raw = await this.redis.get(this.keys.sent(jobId));
    return raw ? (JSON.parse(raw) as SendResult) : null;
  }

  /**
   * The marker of an email the server just accepted, written before the job's completion.
   * With a `completion` connection (and no `waitReplicas`) it returns at once: the SET goes
   * on the connection BullMQ completes the job on, corked until the end of the tick (so it
   * often shares a write with the completion), and always ahead of it: Redis runs them in
   * that order, so a completion can never land without its marker. If that SET fails, the marker is written as `set()` does (retried until
   * it lands). Otherwise it is `set()`, awaited.
   */
  markBeforeCompletion(jobId: string, result: SendResult): Promise<void> {
    const connection = this.options.completion;
    // A Cluster has no one stream to cork (the completion's node is its own business).
    if (!connection || this.acks.enabled || isCluster(connection) || connection.status !== "ready") return this.set(jobId, result);
    const stream = connection.stream;
    stream.cork();
    // Once this tick's promise jobs have run: BullMQ writes the completion among them. Not
    // later: until the uncork, a kill -9 loses the marker of an email already accepted (with
    // setImmediate, a loaded event loop stretched that to milliseconds and worker-kill.test.ts
    // saw an email sent twice).
    process.nextTick(() => stream.uncork());
    connection.set(this.keys.sent(jobId), JSON.stringify(result), "EX", this.ttlSeconds).catch(() =>
      this.set(jobId, result).catch((err: unknown) => this.options.log?.warn({ jobId, err: { message: (err as Error).message } }, "the 250 marker was not written; a later run of this job may send it again")),
    );
    return Promise.resolve();
  }

  /**
   * Resolves once the marker is in Redis (and, with `waitReplicas`, on that many replicas, or
   * after two WAITs that found too few); rejects only after `abandon()`.
   */
  async set(jobId: string, result: SendResult): Promise<void> {
    const key = this.keys.sent(jobId);
    const value = JSON.stringify(result);
    let shortfalls = 0;
    let lostWaits = 0;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.redis.set(key, value, "EX", this.ttlSeconds);
      } catch (err) {
        if (this.abandoned.signal.aborted) throw new MarkerAbandonedError(`gave up writing the 250 marker of ${jobId}: ${(err as Error).message}`);
        if (attempt === 1) this.options.log?.debug({ jobId }, "250 marker waits for Redis");
        await this.nextTry();
        continue;
      }
      if (attempt > 1) this.options.log?.debug({ jobId, attempt }, "250 marker written after Redis came back");
      if (!this.acks.enabled) return;
      try {
        return await this.acks.confirm(this.acks.mark(key));
      } catch (err) {
        // Too few replicas: the marker is on the master; one more try, then say so.
        // A lost connection (a failover under way): the write may have died with the old
        // master, so write it again, to the new one, as for an outage.
        const shortfall = err instanceof ReplicaAckError && err.shortfall;
        if (shortfall ? ++shortfalls >= 2 : ++lostWaits > 20 || this.abandoned.signal.aborted) {
          this.replicaWarning(jobId, err as Error);
          return;
        }
        if (!shortfall) await this.nextTry();
      }
    }
  }

  private replicaWarning(jobId: string, err: Error): void {
    const now = Date.now();
    const warn = now - this.lastReplicaWarn >= REPLICA_WARN_EVERY_MS;
    if (warn) this.lastReplicaWarn = now;
    this.options.log?.[warn ? "warn" : "debug"](
      { jobId, replicas: this.acks.replicas, error: err.message.slice(0, 200) },
      "a 250 marker is not on enough Redis replicas (REDIS_WAIT_REPLICAS); a failover now could send its email again",
    );
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
