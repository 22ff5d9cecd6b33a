// The long-lived pieces every process role shares, wired from Settings in one place:
// Redis connections, keys, the config store and the producer. Entry points compose these;
// tests build the same thing against their own prefix.
import type { Redis } from "ioredis";
import type { Settings } from "./config.ts";
import type { Logger } from "./log.ts";
import { closeConnection, connectRedis, redactUrl } from "./redis.ts";
import { RedisHealth } from "./redis/health.ts";
import { createKeys, type Keys } from "./keys.ts";
import { SmtpConfigStore } from "./smtp-config/store.ts";
import { createEmailProducer, type EmailProducer } from "./producer.ts";

export type ServiceSettings = Pick<Settings, "redisUrl" | "prefix" | "masterKey" | "attempts" | "redisWaitReplicas">;

export interface Services {
  keys: Keys;
  /** General-purpose connection: configs, markers, tokens, readiness. (Not auto-pipelined: the
   *  per-tick Pipeline objects cost more than they saved; see bench/.) */
  redis: Redis;
  /** One outage line per process, whatever the number of connections. */
  health: RedisHealth;
  store: SmtpConfigStore;
  producer: EmailProducer;
  /** REDIS_WAIT_REPLICAS: replicas an enqueue and a 250 marker wait for. */
  waitReplicas: number;
  /** A fresh connection of the given kind; the caller closes it. */
  connect(kind: "subscriber" | "worker"): Redis;
  close(): Promise<void>;
}

export function openServices(settings: ServiceSettings, log: Logger): Services {
  const keys = createKeys(settings.prefix);
  const health = new RedisHealth({ log, target: redactUrl(settings.redisUrl) });
  const redis = connectRedis(settings.redisUrl, { connectionName: "notify", health });
  const store = new SmtpConfigStore(redis, keys, settings.masterKey);
  const producer = createEmailProducer({ redis, prefix: settings.prefix, attempts: settings.attempts, waitReplicas: settings.redisWaitReplicas });
  const extra: Redis[] = [];
  return {
    keys,
    redis,
    health,
    store,
    producer,
    waitReplicas: settings.redisWaitReplicas,
    connect(kind) {
      const connection = connectRedis(settings.redisUrl, { maxRetriesPerRequest: null, connectionName: `notify-${kind}`, health });
      extra.push(connection);
      return connection;
    },
    async close() {
      await producer.close();
      await Promise.all([redis, ...extra].map(closeConnection));
    },
  };
}

