// Which SMTP config a job is sent with, answered from a local cache on the hot path.
// Changes arrive over Redis pub/sub within milliseconds; the TTL is only a safety net for a
// missed message (and the cache is dropped whole whenever the subscriber reconnects).
import type { Redis } from "ioredis";
import type { Keys } from "../keys.ts";
import { isCluster } from "../redis/connect.ts";
import type { MasterKey } from "../crypto/master-key.ts";
import { fingerprint } from "../crypto/fingerprint.ts";
import type { Logger } from "../log.ts";
import type { SmtpConfigStore, StoredConfig } from "./store.ts";
import type { ResolvedConfig, SmtpConfig } from "./model.ts";

export interface ConfigResolverOptions {
  store: SmtpConfigStore;
  /** A connection of its own: it enters subscriber mode. */
  subscriber: Redis;
  keys: Keys;
  masterKey: MasterKey;
  /** From DEFAULT_SMTP_URL; null when there is none. */
  defaultConfig: SmtpConfig | null;
  log: Logger;
  /** Local cache lifetime. Default 60 s. */
  ttlMs?: number;
}

type Listener = (projectId: string) => void;

interface Entry {
  value: ResolvedConfig | null;
  expiresAt: number;
}

export class ConfigResolver {
  private readonly cache = new Map<string, Entry>();
  private readonly loading = new Map<string, Promise<ResolvedConfig | null>>();
  private readonly listeners: Listener[] = [];
  private readonly ttlMs: number;
  private readonly defaultResolved: ResolvedConfig | null;
  private generation = 0;

  constructor(private readonly options: ConfigResolverOptions) {
    this.ttlMs = options.ttlMs ?? 60_000;
    const d = options.defaultConfig;
    this.defaultResolved = d ? resolveDefault(d, options.masterKey) : null;
  }

  async start(): Promise<void> {
    const { subscriber, keys } = this.options;
    subscriber.on("message", (channel: string, projectId: string) => {
      if (channel === keys.smtpConfigChanged) this.invalidate(projectId);
    });
    // After a reconnect we may have missed messages: forget everything.
    subscriber.on("ready", () => this.invalidateAll());
    // A Cluster's subscription lives on one node; when that node fails, ioredis moves it to
    // another at once (no "ready"), and what was published in between is lost. A node that
    // leaves or joins the cluster's map (within seconds of a failure) is therefore also a
    // reason to forget.
    if (isCluster(subscriber)) for (const event of ["-node", "+node"]) subscriber.on(event, () => this.invalidateAll());
    await subscriber.subscribe(keys.smtpConfigChanged);
  }

  /** Called with a project id whenever its config changes (e.g. to close pooled connections). */
  onChange(listener: Listener): void {
    this.listeners.push(listener);
  }

  /** The project's own config, else the default server, else null. */
  resolve(projectId: string): Promise<ResolvedConfig | null> {
    const hit = this.cache.get(projectId);
    if (hit && hit.expiresAt > Date.now()) return Promise.resolve(hit.value);
    // One load per project at a time, however many jobs ask.
    let pending = this.loading.get(projectId);
    if (!pending) {
      pending = this.load(projectId).finally(() => this.loading.delete(projectId));
      this.loading.set(projectId, pending);
    }
    return pending;
  }


  invalidate(projectId: string): void {
    this.cache.delete(projectId);
    // A load that started before the change must not answer callers who come after it.
    this.loading.delete(projectId);
    this.generation++;
    for (const listener of this.listeners) listener(projectId);
  }

  private invalidateAll(): void {
    for (const projectId of [...this.cache.keys()]) this.invalidate(projectId);
    this.generation++;
  }

  private async load(projectId: string): Promise<ResolvedConfig | null> {
    const generation = this.generation;
    const stored = await this.options.store.get(projectId);
    const value = stored ? resolveStored(projectId, stored, this.options.masterKey) : this.defaultResolved;
    // A change that raced with this load must not be papered over by the stale value.
    if (generation === this.generation) this.cache.set(projectId, { value, expiresAt: Date.now() + this.ttlMs });
    return value;
  }
}

/** A project's stored config, ready to send with. */
export function resolveStored(projectId: string, stored: StoredConfig, masterKey: MasterKey): ResolvedConfig {
  return {
    projectId,
    source: "project",
    config: stored.config,
    version: stored.version,
    fingerprint: fingerprint(masterKey, projectId, String(stored.version), JSON.stringify(stored.config)),
  };
}

/** The default server's config, ready to send with. */
export function resolveDefault(config: SmtpConfig, masterKey: MasterKey): ResolvedConfig {
  return { projectId: "(default)", source: "default", config, version: 0, fingerprint: fingerprint(masterKey, "default", JSON.stringify(config)) };
}
