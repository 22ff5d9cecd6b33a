// Following a Sentinel failover at once, including a planned one. When the master dies, every
// connection drops and, reconnecting, asks the sentinels for the new one. But when the old
// master stays up (SENTINEL FAILOVER for maintenance, a partition that heals), nothing drops:
// the sentinels make it a replica only some 10 s later, and until then everything written to
// it is thrown away. So each process listens, on every sentinel, for `+switch-master` of
// our master, and reconnects every connection it has to that master when it comes.
//
// One listener per process and URL, however many connections: it starts with the first
// connection and stops with the last (so that a closed process can exit), and its own
// errors go nowhere (the connections to the master report outages).
import { Redis, type RedisOptions } from "ioredis";
import type { RedisTarget } from "./url.ts";

const CHANNEL = "+switch-master";

class SwitchListener {
  private readonly connections = new Set<Redis>();
  private sentinels: Redis[] = [];
  private lastMaster: string | undefined;

  constructor(
    private readonly target: RedisTarget,
    private readonly sentinelOptions: RedisOptions,
    private readonly onEmpty: () => void,
  ) {}

  add(connection: Redis): void {
    this.connections.add(connection);
    connection.once("end", () => this.remove(connection));
    if (this.sentinels.length === 0) this.start();
  }

  private remove(connection: Redis): void {
    this.connections.delete(connection);
    if (this.connections.size > 0) return;
    for (const sentinel of this.sentinels) sentinel.disconnect();
    this.sentinels = [];
    this.onEmpty();
  }

  private start(): void {
    this.sentinels = this.target.hosts.map(({ host, port }) => {
      const sentinel = new Redis({ ...this.sentinelOptions, host, port, connectionName: "notify-sentinel-watch" });
      sentinel.on("error", () => {});
      sentinel.on("message", (channel: string, message: string) => {
        if (channel === CHANNEL) this.switched(message);
      });
      sentinel.subscribe(CHANNEL).catch(() => {});
      return sentinel;
    });
  }

  /** `<master name> <old ip> <old port> <new ip> <new port>`, from each sentinel: act once. */
  private switched(message: string): void {
    const [name, , , host, port] = message.split(" ");
    if (name !== this.target.masterName || !host || !port) return;
    const master = `${host}:${port}`;
    if (master === this.lastMaster) return;
    this.lastMaster = master;
    for (const connection of this.connections) moveToMaster(connection, host, Number(port));
  }
}

/**
 * Reconnects `connection` if it is (or is about to be) on another master than `host:port`.
 * Reconnecting asks the sentinels for the master; unanswered commands are sent again.
 */
function moveToMaster(connection: Redis, host: string, port: number): void {
  switch (connection.status) {
    case "ready":
    case "connect":
      connection.disconnect(true);
      return;
    case "connecting":
      // Still asking the sentinels: cutting that short ends the connection for good (ioredis
      // gives up with "Connection is closed" and status "end", found by the kill -9 drill).
      // Let it finish, then move it if the answer it got was the old master.
      connection.once("ready", () => {
        const stream = connection.stream;
        if (stream.remotePort !== port || !sameHost(stream.remoteAddress, host)) connection.disconnect(true);
      });
      return;
    default:
      // "wait", "close", "reconnecting": its next connect asks the sentinels. "end": closed by us.
      return;
  }
}

const sameHost = (address: string | undefined, host: string) => address === host || address === `::ffff:${host}`;

const listeners = new Map<string, SwitchListener>();

/** Makes `connection` (to `target`'s master) reconnect when the sentinels switch masters. */
export function followSwitches(url: string, target: RedisTarget, connection: Redis, sentinelOptions: RedisOptions): void {
  let listener = listeners.get(url);
  if (!listener) {
    listener = new SwitchListener(target, sentinelOptions, () => listeners.delete(url));
    listeners.set(url, listener);
  }
  listener.add(connection);
}
