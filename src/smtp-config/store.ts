// SMTP configs in Redis: one hash field per project, the whole record sealed with the master
// key (bound to the project id), and a pub/sub message on every change.
import type { Redis } from "ioredis";
import type { Keys } from "../keys.ts";
import type { MasterKey } from "../crypto/master-key.ts";
import { envelopeKeyId, open, seal, SealError } from "../crypto/seal.ts";
import type { SmtpConfig } from "./model.ts";
import { UnreadableConfigError } from "./unreadable.ts";

export interface StoredConfig {
  config: SmtpConfig;
  version: number;
  updatedAt: string;
}

export interface PutOptions {
  /**
   * Overwrite a stored config this process cannot open (sealed under an unknown key). Only for
   * a body that carries every secret itself; default false (the unreadable config throws).
   */
  replaceUnreadable?: boolean;
}

/** What resealing one field did; "busy": it kept changing under us, run the rotation again. */
export type ResealOutcome = "resealed" | "current" | "unreadable" | "gone" | "busy";

// Compare-and-set: reseal only the exact envelope we read, so a PUT that landed in between is
// never replaced by the older content we decrypted.
const HASH_COMPARE_AND_SET =
  "if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then redis.call('HSET', KEYS[1], ARGV[1], ARGV[3]) return 1 end return 0";
const RESEAL_TRIES = 5;

export class SmtpConfigStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly masterKey: MasterKey,
  ) {}

  /** Throws UnreadableConfigError when the stored envelope cannot be opened. */
  async get(projectId: string): Promise<StoredConfig | null> {
    const envelope = await this.redis.hget(this.keys.smtpConfigs, projectId);
    return envelope ? this.decode(projectId, envelope) : null;
  }

  async put(projectId: string, config: SmtpConfig, options: PutOptions = {}): Promise<StoredConfig> {
    let previous: StoredConfig | null = null;
    try {
      previous = await this.get(projectId);
    } catch (err) {
      if (!(err instanceof UnreadableConfigError && options.replaceUnreadable)) throw err;
    }
    const record: StoredConfig = { config, version: (previous?.version ?? 0) + 1, updatedAt: new Date().toISOString() };
    await this.redis
      .multi()
      .hset(this.keys.smtpConfigs, projectId, seal(this.masterKey, JSON.stringify(record), aad(projectId)))
      .publish(this.keys.smtpConfigChanged, projectId)
      .exec();
    return record;
  }

  /** True when there was a config to delete. */
  async delete(projectId: string): Promise<boolean> {
    const result = await this.redis.multi().hdel(this.keys.smtpConfigs, projectId).publish(this.keys.smtpConfigChanged, projectId).exec();
    return result?.[0]?.[1] === 1;
  }

  /**
   * Seals the project's config under the current key if a previous key sealed it. `seen` is the
   * envelope the caller already read (e.g. from HSCAN). Content, version and time stay as they
   * are, so no change is announced: every reader decodes the same record as before.
   */
  async reseal(projectId: string, seen?: string | null): Promise<ResealOutcome> {
    let envelope = seen === undefined ? await this.redis.hget(this.keys.smtpConfigs, projectId) : seen;
    for (let attempt = 0; attempt < RESEAL_TRIES; attempt++) {
      if (envelope === null) return "gone";
      if (envelopeKeyId(envelope) === this.masterKey.id) return "current";
      let plaintext: string;
      try {
        plaintext = open(this.masterKey, envelope, aad(projectId));
      } catch (err) {
        if (err instanceof SealError) return "unreadable";
        throw err;
      }
      const fresh = seal(this.masterKey, plaintext, aad(projectId));
      if ((await this.redis.eval(HASH_COMPARE_AND_SET, 1, this.keys.smtpConfigs, projectId, envelope, fresh)) === 1) return "resealed";
      // A PUT or DELETE came in between: judge what is there now.
      envelope = await this.redis.hget(this.keys.smtpConfigs, projectId);
    }
    return "busy";
  }

  private decode(projectId: string, envelope: string): StoredConfig {
    try {
      return JSON.parse(open(this.masterKey, envelope, aad(projectId))) as StoredConfig;
    } catch (err) {
      if (err instanceof SealError) throw new UnreadableConfigError(projectId, err);
      throw err;
    }
  }
}

function aad(projectId: string): string {
  return `smtp-config:${projectId}`;
}
