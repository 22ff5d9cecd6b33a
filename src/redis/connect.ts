// The one place that turns REDIS_URL into ioredis connections: one server, a Sentinel-managed
// master, or a Cluster. Every role (API, worker, `npm start`, the library) connects here.
//
// A Cluster is handed out typed as `Redis`: both classes have the same command interface,
// which is all the rest of the code uses, and keeping one type keeps every caller unchanged.
// What differs is where a command runs, so code that must reach one particular node (WAIT,
// SCAN) asks `slotNode()` for the master that holds the deployment's hash-tag slot.
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from "ioredis";
import { parseRedisUrl, type RedisTarget } from "./url.ts";
import type { RedisHealth } from "./health.ts";
import { followSwitches } from "./sentinel-switch.ts";

export interface ConnectOptions {
  /** BullMQ workers need `null` (block forever on BRPOPLPUSH-style commands); producers fail fast. Default 3. */
  maxRetriesPerRequest?: number | null;
  /** Batch commands issued in the same tick into one round trip (used on the hot path). Default false. */
  autoPipelining?: boolean;
  connectionName?: string;
  /** Reports outages once per process; absent, the connection's errors are swallowed (they
   *  surface as rejected commands), never dumped to stderr by ioredis. */
  health?: RedisHealth;
}

/** Longest pause between reconnect attempts. Short, so that every connection of every
 *  replica is back within about a second of Redis (the 250 markers rely on it, see deliver.ts). */
export const RECONNECT_MAX_MS = 1000;

/**
 * Cluster commands whose node went away are retried this often (ioredis: up to 16 times),
 * refreshing the slot map each time: 3.2 s, about what a replica promotion takes with a
 * short `cluster-node-timeout`. The producer's deadline still bounds an enqueue.
 */
const CLUSTER_RETRY_MS = 200;

const reconnectDelay = (times: number) => Math.min(50 * times, RECONNECT_MAX_MS - 200) + Math.round(Math.random() * 200);

export function connectRedis(url: string, options: ConnectOptions = {}): Redis {
  const target = parseRedisUrl(url);
  const connection = createClient(target, options);
  if (target.topology === "sentinel") {
    const watcherOptions: RedisOptions = {
      username: target.sentinelUsername ?? target.username,
      password: target.sentinelPassword ?? target.password,
      tls: target.tls ? tlsOptions(target) : undefined,
      family: target.family,
      retryStrategy: reconnectDelay,
      maxRetriesPerRequest: null,
    };
    const follow = (redis: Redis) => {
      followSwitches(url, target, redis, watcherOptions);
      // BullMQ opens its blocking connection with `duplicate()`: it must follow too.
      const duplicate = redis.duplicate.bind(redis);
      redis.duplicate = (override?: Partial<RedisOptions>) => follow(duplicate(override));
      return redis;
    };
    follow(connection);
  }
  if (options.health) options.health.watch(connection, options.connectionName ?? "redis");
  else connection.on("error", () => {});
  return connection;
}

/** True for a connection made from a `redis+cluster://` URL. */
export function isCluster(connection: Redis): boolean {
  return (connection as unknown as Cluster).isCluster === true;
}

/**
 * The connection that runs commands on `key`'s master: the connection itself, or on a
 * Cluster the pooled connection ioredis uses for that slot (the one a write of `key` went
 * through, which is what WAIT needs). Undefined while a Cluster does not know the slot's master.
 */
export function slotNode(connection: Redis, key: string): Redis | undefined {
  if (!isCluster(connection)) return connection;
  const cluster = connection as unknown as Cluster;
  const owner = cluster.slots[keySlot(key)]?.[0];
  if (!owner) return undefined;
  return cluster.nodes("master").find((node) => `${node.options.host}:${node.options.port}` === owner);
}

function createClient(target: RedisTarget, options: ConnectOptions): Redis {
  const common: RedisOptions = {
    maxRetriesPerRequest: options.maxRetriesPerRequest === undefined ? 3 : options.maxRetriesPerRequest,
    connectionName: options.connectionName,
    username: target.username,
    password: target.password,
    family: target.family,
    tls: target.tls ? tlsOptions(target) : undefined,
  };
  if (target.topology === "cluster") {
    return new Cluster(target.hosts, clusterOptions(target, common, options)) as unknown as Redis;
  }
  const redisOptions: RedisOptions = {
    ...common,
    enableAutoPipelining: options.autoPipelining ?? false,
    // Reconnect forever: Redis restarts and failovers must not kill workers.
    retryStrategy: reconnectDelay,
    // Still talking to a master that was demoted (a managed service's DNS switch, a
    // partition that healed): reconnect, which asks the sentinels again. The refused command
    // fails (a connection error to its caller: a 503, a retried job); resending it would
    // loop for ever on a URL that names a replica.
    reconnectOnError: (err) => err.message.startsWith("READONLY"),
    db: target.db,
  };
  if (target.topology === "standalone") return new Redis({ ...redisOptions, host: target.hosts[0]!.host, port: target.hosts[0]!.port });
  return new Redis({ ...redisOptions, ...sentinelOptions(target) });
}

function tlsOptions(target: RedisTarget): NonNullable<RedisOptions["tls"]> {
  // No `ca`: Node's store, which NODE_EXTRA_CA_CERTS extends, is what verifies the server.
  return target.servername ? { servername: target.servername } : {};
}

function sentinelOptions(target: RedisTarget): RedisOptions {
  return {
    sentinels: target.hosts,
    name: target.masterName,
    sentinelUsername: target.sentinelUsername ?? target.username,
    sentinelPassword: target.sentinelPassword ?? target.password,
    // Sentinels unreachable: keep asking, as for the master itself.
    sentinelRetryStrategy: reconnectDelay,
    // No `failoverDetector` (it opens sentinel connections per connection, which print
    // "Unhandled error event" to stderr and can outlive `disconnect()`): one listener per
    // process does its job (sentinel-switch.ts).
    ...(target.tls ? { enableTLSForSentinelMode: true, sentinelTLS: tlsOptions(target) } : {}),
  };
}

function clusterOptions(target: RedisTarget, common: RedisOptions, options: ConnectOptions): ClusterOptions {
  return {
    redisOptions: common,
    enableAutoPipelining: options.autoPipelining ?? false,
    clusterRetryStrategy: reconnectDelay,
    retryDelayOnFailover: CLUSTER_RETRY_MS,
    retryDelayOnClusterDown: CLUSTER_RETRY_MS,
    retryDelayOnTryAgain: CLUSTER_RETRY_MS,
    // The slot map is also refreshed on every MOVED and failed node; this catches the rest
    // (a replica promoted while we were idle) sooner than the 5 s default.
    slotsRefreshInterval: 2000,
    // TLS certificates name hosts, not addresses: connect by the name the cluster announces.
    ...(target.tls ? { dnsLookup: (address, callback) => callback(null, address) } : {}),
  };
}

/**
 * True when something at `url` answers PING within `timeoutMs` (any form; for a Cluster, a
 * seed node that knows a working cluster).
 */
export async function redisAnswers(url: string, timeoutMs = 1500): Promise<boolean> {
  const target = parseRedisUrl(url);
  const probe =
    target.topology === "cluster"
      ? (new Cluster(target.hosts, {
          lazyConnect: true,
          clusterRetryStrategy: () => null,
          enableOfflineQueue: false,
          redisOptions: { username: target.username, password: target.password, tls: target.tls ? tlsOptions(target) : undefined, connectTimeout: timeoutMs, maxRetriesPerRequest: 0 },
          ...(target.tls ? { dnsLookup: (address: string, callback: (err: null, address: string) => void) => callback(null, address) } : {}),
        }) as unknown as Redis)
      : new Redis({
          ...(target.topology === "sentinel" ? { ...sentinelOptions(target), sentinelRetryStrategy: () => null } : { host: target.hosts[0]!.host, port: target.hosts[0]!.port }),
          username: target.username,
          password: target.password,
          tls: target.tls ? tlsOptions(target) : undefined,
          lazyConnect: true,
          maxRetriesPerRequest: 0,
          connectTimeout: timeoutMs,
          retryStrategy: () => null,
        });
  probe.on("error", () => {});
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs + 500)));
  try {
    const answered = (async () => {
      await probe.connect();
      return (await probe.ping()) === "PONG";
    })().catch(() => false);
    return await Promise.race([answered, late]);
  } finally {
    clearTimeout(timer);
    probe.disconnect();
  }
}

/** Redis Cluster's slot of a key: CRC16 (XMODEM) of its hash tag, or of the whole key, mod 16384. */
export function keySlot(key: string): number {
  const open = key.indexOf("{");
  if (open >= 0) {
    const close = key.indexOf("}", open + 1);
    if (close > open + 1) key = key.slice(open + 1, close);
  }
  let crc = 0;
  for (const byte of Buffer.from(key, "utf8")) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % 16384;
}
