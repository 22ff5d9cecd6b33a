// A Redis Cluster of the test's own: N masters with a replica each, every node a redis-server
// on free loopback ports (client port and bus port chosen apart with `cluster-port`), in temp
// dirs, joined with `redis-cli --cluster create`. A short `cluster-node-timeout` makes a
// killed master's replica take over within a few seconds. Optionally every node requires an
// ACL user (also used for replication and by redis-cli). Never touches the shared Redis.
import { freePort } from "./smtp-server.ts";
import { logTails, startRedisProcess, until, type RedisProcess } from "./redis-process.ts";
import { keySlot } from "../../src/redis/connect.ts";

export interface RedisClusterOptions {
  /** Default 3. */
  masters?: number;
  /** Replicas per master, default 1. */
  replicas?: number;
  /** Default 1000 ms. */
  nodeTimeoutMs?: number;
  /** An ACL user every node requires (and replicates with). */
  user?: { name: string; password: string };
}

export interface RedisCluster {
  nodes: RedisProcess[];
  /** `redis+cluster://[user:password@]127.0.0.1:p1,…` (every node as a seed). */
  url: string;
  /** The node that is master of `key`'s slot now, as the live nodes see it. */
  masterOf(key: string): Promise<RedisProcess>;
  /** Waits until a live node other than `previous` is master of the slot and the cluster is ok. */
  waitForPromotion(key: string, previous: RedisProcess, timeoutMs?: number): Promise<RedisProcess>;
  /** The live replicas of `master`. */
  replicasOf(master: RedisProcess): Promise<RedisProcess[]>;
  /** Cuts a replica off its master: a wrong replication password, and its link killed (it
   *  keeps retrying, and failing). Needs `user`. */
  cutOff(replica: RedisProcess): Promise<void>;
  /** Gives it the right password again; it resyncs by itself (if it is still a replica). */
  rejoin(replica: RedisProcess): Promise<void>;
  /** CLUSTER FAILOVER on a replica of `master`: coordinated, nothing acknowledged is lost. */
  manualFailover(master: RedisProcess): Promise<void>;
  /** Waits until `node` is back as a replica that has finished syncing. */
  waitForReplica(node: RedisProcess, timeoutMs?: number): Promise<void>;
  /** The last lines of every node's log. */
  describe(): string;
  /** `CLUSTER KEYSLOT` as the server computes it. */
  serverKeySlot(key: string): Promise<number>;
  stop(): Promise<void>;
}

export async function startRedisCluster(options: RedisClusterOptions = {}): Promise<RedisCluster> {
  const masters = options.masters ?? 3;
  const total = masters * (1 + (options.replicas ?? 1));
  const user = options.user;
  const cliAuth = user ? ["--user", user.name, "--pass", user.password] : [];
  const nodes: RedisProcess[] = [];
  try {
    for (let i = 0; i < total; i++) {
      nodes.push(
        await startRedisProcess({
          name: `cluster${i}`,
          cliAuth,
          config: [
            `cluster-port ${await freePort()}`,
            "cluster-enabled yes",
            "cluster-config-file nodes.conf",
            `cluster-node-timeout ${options.nodeTimeoutMs ?? 1000}`,
            // Promote whatever replica there is, however long it was cut off.
            "cluster-replica-validity-factor 0",
            "save \"\"",
            "appendonly no",
            ...(user
              ? [`user default off`, `user ${user.name} on >${user.password} ~* &* +@all`, `masteruser ${user.name}`, `masterauth ${user.password}`]
              : []),
          ],
        }),
      );
    }
    await nodes[0]!.cli("--cluster", "create", ...nodes.map((n) => `127.0.0.1:${n.port}`), "--cluster-replicas", String(options.replicas ?? 1), "--cluster-yes");
    for (const node of nodes) {
      await until(async () => ((await node.cli("CLUSTER", "INFO")).includes("cluster_state:ok") ? true : undefined), 20_000, `node ${node.port} to see cluster_state:ok`);
    }
    // Every replica has finished its first sync (a promotion needs one).
    for (const node of nodes) {
      await until(async () => {
        const info = await node.cli("INFO", "replication");
        return info.includes("role:master") || info.includes("master_link_status:up") ? true : undefined;
      }, 20_000, `node ${node.port} to finish syncing`);
    }
  } catch (err) {
    await Promise.all(nodes.map((n) => n.remove()));
    throw err;
  }

  const live = () => nodes.filter((n) => n.running);
  const byPort = (port: number) => nodes.find((n) => n.port === port);

  const masterOf = async (key: string): Promise<RedisProcess> => {
    const slot = keySlot(key);
    for (const node of live()) {
      const reply = await node.cli("--json", "CLUSTER", "SLOTS").catch(() => "");
      if (!reply) continue;
      const ranges = JSON.parse(reply) as [number, number, [string, number, ...unknown[]], ...unknown[]][];
      const range = ranges.find(([from, to]) => slot >= from && slot <= to);
      const master = range && byPort(Number(range[2][1]));
      if (master) return master;
    }
    throw new Error(`no live node knows the master of slot ${slot}`);
  };

  const replicasOf = async (master: RedisProcess): Promise<RedisProcess[]> => {
    const replicas: RedisProcess[] = [];
    for (const node of live()) {
      const info = await node.cli("INFO", "replication").catch(() => "");
      if (info.includes("role:slave") && info.includes(`master_port:${master.port}`)) replicas.push(node);
    }
    return replicas;
  };

  return {
    nodes,
    url: `redis+cluster://${user ? `${encodeURIComponent(user.name)}:${encodeURIComponent(user.password)}@` : ""}${nodes.map((n) => `127.0.0.1:${n.port}`).join(",")}`,
    masterOf,
    async waitForPromotion(key, previous, timeoutMs = 30_000) {
      return until(async () => {
        const master = await masterOf(key);
        if (master === previous || !master.running) return undefined;
        const role = await master.cli("ROLE");
        const ok = (await master.cli("CLUSTER", "INFO")).includes("cluster_state:ok");
        return role.startsWith("master") && ok ? master : undefined;
      }, timeoutMs, `a replica to take over the slot of ${key}`);
    },
    replicasOf,
    async cutOff(replica) {
      if (!user) throw new Error("cutOff needs a cluster started with a user");
      await replica.cli("CONFIG", "SET", "masterauth", `${user.password}-wrong`);
      await replica.cli("CLIENT", "KILL", "TYPE", "master");
    },
    async rejoin(replica) {
      if (user) await replica.cli("CONFIG", "SET", "masterauth", user.password);
    },
    async manualFailover(master) {
      const [replica] = await replicasOf(master);
      if (!replica) throw new Error(`master ${master.port} has no replica`);
      await replica.cli("CLUSTER", "FAILOVER");
    },
    async waitForReplica(node, timeoutMs = 30_000) {
      await until(async () => ((await node.cli("INFO", "replication")).includes("master_link_status:up") ? true : undefined), timeoutMs, `node ${node.port} to sync as a replica`);
    },
    describe: () => logTails(nodes),
    async serverKeySlot(key) {
      return Number(await live()[0]!.cli("CLUSTER", "KEYSLOT", key));
    },
    async stop() {
      await Promise.all(nodes.map((n) => n.remove()));
    },
  };
}
