// The token cache shared by every replica. Order of lookup: this process's memory (no Redis
// on the hot path), then the sealed copy in Redis, then the provider — and only one replica
// asks the provider at a time (a short Redis lock; the others poll for its result). Tokens are
// refreshed ahead of expiry in the background, so in steady state no send waits for one.
import { randomUUID } from "node:crypto";
import type { ChainableCommander, Redis } from "ioredis";
import type { Keys } from "../keys.ts";
import type { MasterKey } from "../crypto/master-key.ts";
import { open, seal } from "../crypto/seal.ts";
import type { Logger } from "../log.ts";
import { DeliveryError, type DeliveryErrorFields } from "../errors.ts";
import type { TokenSpec } from "./spec.ts";
import { MAX_TOKEN_LIFETIME_S, type TokenResponse } from "./token-answer.ts";

export interface TokenObserver {
  hit(): void;
  miss(): void;
  wait(): void;
  request(outcome: "ok" | "transient" | "permanent"): void;
}

export interface TokenCacheOptions {
  redis: Redis;
  keys: Keys;
  masterKey: MasterKey;
  /** Asks the provider (see grants.ts). */
  fetch: (spec: TokenSpec) => Promise<TokenResponse>;
  log: Logger;
  observer?: TokenObserver;
  /** How long one replica may hold the fetch lock. Default 15 s. */
  lockMs?: number;
  /** How often waiting replicas look for the fetched token. Default 50 ms. */
  pollMs?: number;
  /** How long a permanent provider error is remembered. Default 60 s. */
  negativeTtlMs?: number;
}

interface Cached {
  token: string;
  /** Stop using the token after this (its real expiry minus a skew). */
  expiresAt: number;
  /** Start a background refresh after this. */
  refreshAt: number;
  /** The sealed value as stored in Redis: lets `invalidate` delete exactly this token. */
  envelope: string;
}

/** Outlives any token; refreshed on every fetch. */
const INDEX_TTL_MS = 86_400_000;

const COMPARE_AND_DELETE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";

export class TokenCache {
  private readonly local = new Map<string, Cached & { projectId: string }>();
  private readonly negative = new Map<string, { error: DeliveryError; until: number }>();
  private readonly inflight = new Map<string, Promise<Cached>>();
  private readonly lockMs: number;
  private readonly pollMs: number;
  private readonly negativeTtlMs: number;

  constructor(private readonly options: TokenCacheOptions) {
    this.lockMs = options.lockMs ?? 15_000;
    this.pollMs = options.pollMs ?? 50;
    this.negativeTtlMs = options.negativeTtlMs ?? 60_000;
  }

  /** A currently valid access token for the spec. Throws a DeliveryError (stage "token"). */
  async get(spec: TokenSpec): Promise<string> {
    const now = Date.now();
    const hit = this.local.get(spec.id);
    if (hit && hit.expiresAt > now) {
      this.options.observer?.hit();
      if (hit.refreshAt <= now && !this.inflight.has(spec.id)) this.refreshInBackground(spec);
      return hit.token;
    }
    const negative = this.negative.get(spec.id);
    if (negative && negative.until > now) throw negative.error;
    this.options.observer?.miss();
    return (await this.singleFlight(spec, "load")).token;
  }


  /** A server refused `token`: forget it here and in Redis (unless it was already replaced). */
  async invalidate(spec: TokenSpec, token: string): Promise<void> {
    const hit = this.local.get(spec.id);
    if (!hit || hit.token !== token) return;
    this.local.delete(spec.id);
    await this.options.redis.eval(COMPARE_AND_DELETE, 1, this.options.keys.token(spec.id), hit.envelope);
  }

  /** The project's config changed: drop its tokens and remembered errors, here and in Redis. */
  async dropProject(projectId: string): Promise<void> {
    for (const [id, entry] of this.local) if (entry.projectId === projectId) this.local.delete(id);
    const { redis, keys } = this.options;
    const ids = await redis.smembers(keys.tokenIndex(projectId));
    for (const id of ids) this.negative.delete(id);
    const doomed = ids.flatMap((id) => [keys.token(id), keys.tokenError(id)]);
    await redis.del(keys.tokenIndex(projectId), ...doomed);
  }

  private refreshInBackground(spec: TokenSpec): void {
    this.singleFlight(spec, "refresh").catch((err: unknown) => {
      // The current token is still valid; the next get() past expiry will try again in the foreground.
      this.options.log.warn({ projectId: spec.projectId, err: err instanceof DeliveryError ? err.toJSON() : { message: String(err) } }, "background token refresh failed");
    });
  }

  /** One load or refresh per cache id per process, however many callers. */
  private singleFlight(spec: TokenSpec, mode: "load" | "refresh"): Promise<Cached> {
    let pending = this.inflight.get(spec.id);
    if (!pending) {
      pending = this.loadShared(spec, mode).finally(() => this.inflight.delete(spec.id));
      this.inflight.set(spec.id, pending);
    }
    return pending;
  }

  private async loadShared(spec: TokenSpec, mode: "load" | "refresh"): Promise<Cached> {
    const { redis, keys } = this.options;
    const deadline = Date.now() + this.lockMs * 2;
    let waited = false;
    for (;;) {
      const shared = await this.readShared(spec);
      // A refresh is satisfied only by a token that another replica has refreshed already.
      if (shared && (mode === "load" || shared.refreshAt > Date.now())) return this.remember(spec, shared);
      const negative = await redis.get(keys.tokenError(spec.id));
      if (negative) throw this.rememberNegative(spec, JSON.parse(negative) as DeliveryErrorFields & { message: string });

      const lockValue = randomUUID();
      if (await redis.set(keys.tokenLock(spec.id), lockValue, "PX", this.lockMs, "NX")) {
        try {
          // The holder before us may have stored a token between our read and our lock.
          const again = await this.readShared(spec);
          if (again && (mode === "load" || again.refreshAt > Date.now())) return this.remember(spec, again);
          return await this.fetchAndStore(spec);
        } finally {
          await redis.eval(COMPARE_AND_DELETE, 1, keys.tokenLock(spec.id), lockValue).catch(() => undefined);
        }
      }
      // Another replica is asking the provider. A refresh can simply keep the current token.
      if (mode === "refresh" && shared) return this.remember(spec, shared);
      if (!waited) this.options.observer?.wait();
      waited = true;
      if (Date.now() > deadline) {
        throw new DeliveryError("timed out waiting for another worker to fetch the access token", { stage: "token", permanent: false, code: "token_wait_timeout" });
      }
      await new Promise((r) => setTimeout(r, this.pollMs));
    }
  }

  private async fetchAndStore(spec: TokenSpec): Promise<Cached> {
    const { redis, keys, masterKey, observer } = this.options;
    const started = Date.now();
    let response: TokenResponse;
    try {
      response = await this.options.fetch(spec);
    } catch (err) {
      const classified = err instanceof DeliveryError ? err : new DeliveryError(String((err as Error).message), { stage: "token", permanent: false, code: "token_error" });
      observer?.request(classified.permanent ? "permanent" : "transient");
      if (classified.permanent) {
        // Only our own classification goes to Redis: the message was cleaned (peer text
        // capped, secrets masked) where the provider's answer was read.
        await this.write(spec, "token error", redis
          .multi()
          .set(keys.tokenError(spec.id), JSON.stringify(classified.toJSON()), "PX", this.negativeTtlMs)
          .sadd(keys.tokenIndex(spec.projectId), spec.id)
          .pexpire(keys.tokenIndex(spec.projectId), INDEX_TTL_MS));
        this.rememberNegative(spec, classified.toJSON());
      }
      throw classified;
    }
    observer?.request("ok");
    // The endpoint already validated and capped expires_in; a fetch that did not (tests inject
    // their own) must not turn the arithmetic below into NaN either.
    const lifetime = Math.min(Number.isFinite(response.expiresIn) && response.expiresIn > 0 ? response.expiresIn : 0, MAX_TOKEN_LIFETIME_S) * 1000;
    const usable = lifetime - Math.min(Math.max(60_000, lifetime * 0.1), lifetime * 0.5);
    const value = { token: response.accessToken, expiresAt: started + usable, refreshAt: started + usable * 0.75 };
    const envelope = seal(masterKey, JSON.stringify(value), `token:${spec.id}`);
    // A token we could not share is still good here: use it, and say so (other replicas will
    // fetch their own until the write works again).
    await this.write(spec, "access token", redis
      .multi()
      .set(keys.token(spec.id), envelope, "PX", Math.max(1, Math.round(value.expiresAt - Date.now())))
      .sadd(keys.tokenIndex(spec.projectId), spec.id)
      .pexpire(keys.tokenIndex(spec.projectId), INDEX_TTL_MS));
    return this.remember(spec, { ...value, envelope });
  }

  /**
   * Runs a MULTI and logs a warning when it, or any command in it, failed. ioredis reports a
   * failed command inside a transaction in exec()'s result, not as a rejection: unchecked, a
   * refused SET is silent.
   */
  private async write(spec: TokenSpec, what: string, multi: ChainableCommander): Promise<void> {
    try {
      const results = await multi.exec();
      const failed = results ? results.find(([err]) => err)?.[0] : new Error("the transaction was aborted");
      if (failed) throw failed;
    } catch (err) {
      this.options.log.warn({ projectId: spec.projectId, err: { message: (err as Error).message } }, `could not store the ${what} in Redis`);
    }
  }

  private async readShared(spec: TokenSpec): Promise<Cached | null> {
    const envelope = await this.options.redis.get(this.options.keys.token(spec.id));
    if (!envelope) return null;
    const value = JSON.parse(open(this.options.masterKey, envelope, `token:${spec.id}`)) as Omit<Cached, "envelope">;
    return value.expiresAt > Date.now() ? { ...value, envelope } : null;
  }

  private remember(spec: TokenSpec, cached: Cached): Cached {
    this.local.set(spec.id, { ...cached, projectId: spec.projectId });
    this.negative.delete(spec.id);
    return cached;
  }

  private rememberNegative(spec: TokenSpec, fields: DeliveryErrorFields & { message: string }): DeliveryError {
    const error = new DeliveryError(fields.message, fields);
    this.negative.set(spec.id, { error, until: Date.now() + Math.min(this.negativeTtlMs, 60_000) });
    return error;
  }
}
