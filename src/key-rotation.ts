// Master key rotation: after NOTIFY_MASTER_KEY changed (the old one in NOTIFY_MASTER_KEY_PREVIOUS),
// move everything sealed at rest onto the current key. Safe to interrupt and to run again: each
// field is judged on its own (already current → left alone) and written with a compare-and-set,
// so a PUT that lands meanwhile is never overwritten with the older content.
//
// Cached access tokens are dropped, not resealed: a token's cache key is an HMAC under the
// sealing key's fingerprint subkey, so a token cached under an old key sits at a name that a
// process with the new key never computes. Resealing it would keep a dead entry alive until its
// TTL; dropping it costs at most one token request per config.
import type { Redis } from "ioredis";
import type { Keys } from "./keys.ts";
import type { MasterKey } from "./crypto/master-key.ts";
import { envelopeKeyId } from "./crypto/seal.ts";
import type { SmtpConfigStore } from "./smtp-config/store.ts";
import { RedisUnavailableError, slotNode } from "./redis.ts";

export interface KeyRotationDeps {
  redis: Redis;
  keys: Keys;
  masterKey: MasterKey;
  store: SmtpConfigStore;
}

export interface RotationReport {
  /** The id of the key everything is now sealed with. */
  keyId: string;
  configs: {
    resealed: number;
    /** Already sealed with the current key (e.g. by an earlier, interrupted run, or a PUT since). */
    current: number;
    /** Sealed with a key this process does not have, or damaged: left as they are. */
    unreadable: number;
    /** Kept changing while we tried; run the rotation again. */
    busy: number;
    /** Which projects are unreadable (the first 100), so they can be fixed one by one. */
    unreadableProjects: string[];
  };
  tokens: { dropped: number; current: number };
}

const SCAN_COUNT = 200;
const MAX_LISTED = 100;
const COMPARE_AND_DELETE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";

export async function rotateMasterKey(deps: KeyRotationDeps): Promise<RotationReport> {
  const report: RotationReport = {
    keyId: deps.masterKey.id,
    configs: { resealed: 0, current: 0, unreadable: 0, busy: 0, unreadableProjects: [] },
    tokens: { dropped: 0, current: 0 },
  };
  await resealConfigs(deps, report.configs);
  await dropStaleTokens(deps, report.tokens);
  return report;
}

async function resealConfigs(deps: KeyRotationDeps, counts: RotationReport["configs"]): Promise<void> {
  let cursor = "0";
  do {
    // HSCAN in pages: a deployment with many projects never blocks Redis with one big HGETALL.
    const [next, flat] = await deps.redis.hscan(deps.keys.smtpConfigs, cursor, "COUNT", SCAN_COUNT);
    cursor = next;
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const projectId = flat[i]!;
      const outcome = await deps.store.reseal(projectId, flat[i + 1]!);
      if (outcome === "gone") continue;
      counts[outcome]++;
      if (outcome === "unreadable" && counts.unreadableProjects.length < MAX_LISTED) counts.unreadableProjects.push(projectId);
    }
  } while (cursor !== "0");
}

async function dropStaleTokens(deps: KeyRotationDeps, counts: RotationReport["tokens"]): Promise<void> {
  const pattern = `${deps.keys.token("").replace(/[*?[\]\\]/g, "\\$&")}*`;
  // On a Cluster SCAN runs on one node: the master of our slot, which holds all our keys.
  const node = slotNode(deps.redis, deps.keys.token(""));
  if (!node) throw new RedisUnavailableError("the Redis Cluster does not know the master of our slot right now; run the rotation again");
  let cursor = "0";
  do {
    const [next, names] = await node.scan(cursor, "MATCH", pattern, "COUNT", SCAN_COUNT);
    cursor = next;
    if (names.length === 0) continue;
    const envelopes = await deps.redis.mget(...names);
    for (const [i, envelope] of envelopes.entries()) {
      if (envelope === null) continue;
      if (envelopeKeyId(envelope) === deps.masterKey.id) {
        counts.current++;
        continue;
      }
      // Only the value we judged: a fresh token stored meanwhile stays.
      if ((await deps.redis.eval(COMPARE_AND_DELETE, 1, names[i]!, envelope)) === 1) counts.dropped++;
    }
  } while (cursor !== "0");
}
