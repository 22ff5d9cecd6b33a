// A Sentinel deployment of the test's own: one master, its replicas and three sentinels, each
// a process on a free loopback port in a temp dir, a password on every one of them
// (requirepass + masterauth on the data nodes; requirepass, auth-pass and sentinel-pass on the
// sentinels). Short timeouts, so that a killed master is replaced within a few seconds.
import { logTails, startRedisProcess, until, type RedisProcess } from "./redis-process.ts";

export interface RedisSentinelOptions {
  password: string;
  /** Default 1. */
  replicas?: number;
  /** Default 3. */
  sentinels?: number;
  /** Default "mymaster". */
  masterName?: string;
  /** Default 2000 ms (1000 makes a loaded 2-core machine fail over by mistake). */
  downAfterMs?: number;
}

export interface RedisSentinel {
  /** Master first, then the replicas (the roles change with failovers; see `master()`). */
  nodes: RedisProcess[];
  sentinels: RedisProcess[];
  masterName: string;
  /** `redis+sentinel://:<password>@127.0.0.1:s1,…/<masterName>`. */
  url: string;
  /** The data node the sentinels name as master now. */
  master(): Promise<RedisProcess>;
  /** Waits until the sentinels name another node than `previous`, and it answers as master. */
  waitForPromotion(previous: RedisProcess, timeoutMs?: number): Promise<RedisProcess>;
  /** The live replicas of `master`. */
  replicasOf(master: RedisProcess): Promise<RedisProcess[]>;
  /** Cuts a replica off its master: a wrong replication password, and its link killed (it
   *  keeps retrying, and failing). */
  cutOff(replica: RedisProcess): Promise<void>;
  /** Gives it the right password again; it resyncs by itself (if it is still a replica). */
  rejoin(replica: RedisProcess): Promise<void>;
  /** SENTINEL FAILOVER: the sentinels promote a replica and demote the master (up all along). */
  manualFailover(master: RedisProcess): Promise<void>;
  /** The last lines of every process's log. */
  describe(): string;
  /** Waits until `node` is a replica whose link to the master is up. */
  waitForReplica(node: RedisProcess, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startRedisSentinel(options: RedisSentinelOptions): Promise<RedisSentinel> {
  const { password } = options;
  const masterName = options.masterName ?? "mymaster";
  const cliAuth = ["-a", password];
  const dataConfig = [`requirepass ${password}`, `masterauth ${password}`, "save \"\"", "appendonly no"];
  const nodes: RedisProcess[] = [];
  const sentinels: RedisProcess[] = [];
  try {
    const master = await startRedisProcess({ name: "sentinel-master", cliAuth, config: dataConfig });
    nodes.push(master);
    for (let i = 0; i < (options.replicas ?? 1); i++) {
      nodes.push(await startRedisProcess({ name: `sentinel-replica${i}`, cliAuth, config: [...dataConfig, `replicaof 127.0.0.1 ${master.port}`] }));
    }
    for (const replica of nodes.slice(1)) await until(async () => ((await replica.cli("INFO", "replication")).includes("master_link_status:up") ? true : undefined), 20_000, "the replica's first sync");
    for (let i = 0; i < (options.sentinels ?? 3); i++) {
      sentinels.push(
        await startRedisProcess({
          name: `sentinel${i}`,
          sentinel: true,
          cliAuth,
          config: [
            `requirepass ${password}`,
            // Sentinels authenticate to each other with this (they all share one password here).
            `sentinel sentinel-pass ${password}`,
            `sentinel monitor ${masterName} 127.0.0.1 ${master.port} 2`,
            `sentinel auth-pass ${masterName} ${password}`,
            `sentinel down-after-milliseconds ${masterName} ${options.downAfterMs ?? 2000}`,
            `sentinel failover-timeout ${masterName} 10000`,
            `sentinel parallel-syncs ${masterName} 1`,
          ],
        }),
      );
    }
    // Every sentinel knows the others and the replicas before anything is killed.
    for (const sentinel of sentinels) {
      await until(async () => {
        const seen = Number((await sentinel.cli("SENTINEL", "master", masterName)).split("\n").reduce((found, line, i, all) => (line === "num-other-sentinels" ? all[i + 1]! : found), "0"));
        const replicas = (await sentinel.cli("SENTINEL", "replicas", masterName)).split("\n").filter((l) => l === "ip").length;
        return seen >= sentinels.length - 1 && replicas >= nodes.length - 1 ? true : undefined;
      }, 30_000, `sentinel ${sentinel.port} to discover its peers and the replicas`);
    }
  } catch (err) {
    await Promise.all([...sentinels, ...nodes].map((n) => n.remove()));
    throw err;
  }

  const master = async (): Promise<RedisProcess> => {
    for (const sentinel of sentinels.filter((s) => s.running)) {
      const reply = await sentinel.cli("SENTINEL", "get-master-addr-by-name", masterName).catch(() => "");
      const port = Number(reply.split("\n")[1]);
      const node = nodes.find((n) => n.port === port);
      if (node) return node;
    }
    throw new Error("no sentinel names a master");
  };

  return {
    nodes,
    sentinels,
    masterName,
    url: `redis+sentinel://:${encodeURIComponent(password)}@${sentinels.map((s) => `127.0.0.1:${s.port}`).join(",")}/${masterName}`,
    master,
    async waitForPromotion(previous, timeoutMs = 30_000) {
      return until(async () => {
        const now = await master();
        if (now === previous || !now.running) return undefined;
        return (await now.cli("ROLE")).startsWith("master") ? now : undefined;
      }, timeoutMs, "the sentinels to promote a replica");
    },
    async replicasOf(master) {
      const replicas: RedisProcess[] = [];
      for (const node of nodes.filter((n) => n.running && n !== master)) {
        const info = await node.cli("INFO", "replication").catch(() => "");
        if (info.includes("role:slave") && info.includes(`master_port:${master.port}`)) replicas.push(node);
      }
      return replicas;
    },
    async cutOff(replica) {
      await replica.cli("CONFIG", "SET", "masterauth", `${password}-wrong`);
      await replica.cli("CLIENT", "KILL", "TYPE", "master");
    },
    async rejoin(replica) {
      await replica.cli("CONFIG", "SET", "masterauth", password);
      // Sentinels CONFIG REWRITE the nodes they reconfigure: the wrong password may be in
      // the file by now, and would come back with a restart.
      await replica.cli("CONFIG", "REWRITE");
    },
    // The sentinels notice a restarted old master and make it a replica within ~10-30 s.
    async manualFailover() {
      await sentinels[0]!.cli("SENTINEL", "FAILOVER", masterName);
    },
    async waitForReplica(node, timeoutMs = 60_000) {
      try {
        await until(async () => ((await node.cli("INFO", "replication")).includes("master_link_status:up") ? true : undefined), timeoutMs, `node ${node.port} to sync as a replica`);
      } catch (err) {
        throw new Error(`${(err as Error).message}\n${logTails([node, ...sentinels])}`);
      }
    },
    describe() {
      return logTails([...nodes, ...sentinels]);
    },
    async stop() {
      await Promise.all([...sentinels, ...nodes].map((n) => n.remove()));
    },
  };
}

