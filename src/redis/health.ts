// A Redis outage, told once: a process holds several connections (general, subscriber, worker,
// BullMQ's blocking one), each of which reports every failed reconnect. Operators need one warn
// line when Redis goes away and one info line when it is back, not a stack trace per
// connection per second. Every connection a process opens is watched by the same RedisHealth.
import type { Redis } from "ioredis";
import type { Logger } from "../log.ts";

export interface RedisHealthOptions {
  /** Absent: outages are tracked (for `up`) but not logged, as in the library. */
  log?: Pick<Logger, "warn" | "info">;
  /** Shown in the lines instead of the URL (which may carry a password). */
  target?: string;
}

export class RedisHealth {
  private readonly down = new Set<string>();
  private downSince: number | undefined;
  private reported = false;
  private readonly lostNodes = new Set<string>();

  constructor(private readonly options: RedisHealthOptions = {}) {}

  /** True while no watched connection is known to be down. */
  get up(): boolean {
    return this.down.size === 0;
  }

  /** Follows one connection's life. Its own `error` events go nowhere else (no stderr dump). */
  watch(connection: Redis, name: string): void {
    connection.on("error", (err: Error) => {
      this.markDown(name);
      // "close" alone may be an orderly quit; an error makes it an outage worth one line.
      if (this.reported) return;
      this.reported = true;
      this.options.log?.warn({ redis: this.options.target, error: err.message.slice(0, 200) }, "Redis connection lost; retrying every second, jobs wait");
    });
    connection.on("close", () => this.markDown(name));
    connection.on("ready", () => this.markUp(name));
    // A Cluster stays up while one node fails (its replica takes over): one line per lost
    // node and process, and one when it is back in the cluster's map.
    connection.on("node error", (err: Error, node: string) => this.nodeLost(node, err));
    connection.on("+node", (node: { options?: { host?: string; port?: number } }) => this.nodeBack(`${node.options?.host}:${node.options?.port}`));
  }

  private nodeLost(node: string, err: Error): void {
    if (this.lostNodes.has(node)) return;
    this.lostNodes.add(node);
    this.options.log?.warn({ redis: this.options.target, node, error: err.message.slice(0, 200) }, "Redis Cluster node unreachable; its slots move to a replica if it does not come back");
  }

  private nodeBack(node: string): void {
    if (this.lostNodes.delete(node)) this.options.log?.info({ redis: this.options.target, node }, "Redis Cluster node is back");
  }

  private markDown(name: string): void {
    this.down.add(name);
    this.downSince ??= Date.now();
  }

  private markUp(name: string): void {
    if (!this.down.delete(name) || this.down.size > 0 || this.downSince === undefined) return;
    const downMs = Date.now() - this.downSince;
    this.downSince = undefined;
    if (this.reported) this.options.log?.info({ redis: this.options.target, downMs }, "Redis connection is back");
    this.reported = false;
  }
}

/** ioredis and BullMQ errors that only mean "Redis is not reachable right now". */
export function isConnectionError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as NodeJS.ErrnoException).code ?? "";
  return (
    err.name === "MaxRetriesPerRequestError" ||
    /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|ECONNABORTED)$/.test(code) ||
    /^(Connection is closed|Stream isn't writeable|connect ECONNREFUSED|read ECONNRESET|Reached the max retries|Command timed out)/.test(err.message) ||
    // A failover under way: a Cluster without the slot's master, a replica not yet promoted,
    // sentinels that cannot name a master yet.
    /^(Too many Cluster redirections|CLUSTERDOWN|TRYAGAIN|Failed to refresh slots cache|None of startup nodes is available|Cluster isn't ready|Cluster is ended|READONLY|MASTERDOWN|LOADING|All sentinels are unreachable|No sentinel)/.test(err.message) ||
    err.name === "ClusterAllFailedError"
  );
}
