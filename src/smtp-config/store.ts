// SMTP configs in Redis: one hash field per project, the whole record sealed with the master
// key (bound to the project id), and a pub/sub message on every change.
import type { Redis } from "ioredis";
import type { Keys } from "../keys.ts";
import type { MasterKey } from "../crypto/master-key.ts";
import { open, seal } from "../crypto/seal.ts";
import type { SmtpConfig } from "./model.ts";

export interface StoredConfig {
  config: SmtpConfig;
  version: number;
  updatedAt: string;
}

export class SmtpConfigStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly masterKey: MasterKey,
  ) {}

  async get(projectId: string): Promise<StoredConfig | null> {
    const envelope = await this.redis.hget(this.keys.smtpConfigs, projectId);
    return envelope ? (JSON.parse(open(this.masterKey, envelope, aad(projectId))) as StoredConfig) : null;
  }

  async put(projectId: string, config: SmtpConfig): Promise<StoredConfig> {
    const previous = await this.get(projectId);
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
}

function aad(projectId: string): string {
  return `smtp-config:${projectId}`;
}
