// A Redis Sentinel that answers slowly, for the race a real failover hits by chance: a
// connection still asking the sentinels for the master when `+switch-master` arrives.
//
// It speaks just enough RESP for ioredis: `SENTINEL get-master-addr-by-name` answers
// `master` after `lookupDelayMs`; `SENTINEL sentinels` answers no other sentinels;
// `SUBSCRIBE` subscribes; anything else is `+OK`. `announceSwitch` publishes
// `+switch-master` to every subscriber, the message real sentinels send after a promotion.
import { createServer, type AddressInfo, type Socket } from "node:net";

export interface SlowSentinelPeer {
  port: number;
  /** `get-master-addr-by-name` lookups started so far. */
  readonly lookups: number;
  /** Lookups whose answer has not been sent yet. */
  readonly lookupsInFlight: number;
  announceSwitch(masterName: string, from: string, to: string): void;
  close(): Promise<void>;
}

export async function startSlowSentinel(options: { master: { host: string; port: number }; lookupDelayMs: number }): Promise<SlowSentinelPeer> {
  const subscribers = new Set<Socket>();
  const sockets = new Set<Socket>();
  let lookups = 0;
  let inFlight = 0;

  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => {
      sockets.delete(socket);
      subscribers.delete(socket);
    });
    socket.on("error", () => {});
    let buffered = "";
    socket.on("data", (chunk) => {
      buffered += chunk.toString("latin1");
      for (;;) {
        const parsed = parseCommand(buffered);
        if (!parsed) return;
        buffered = buffered.slice(parsed.length);
        answer(socket, parsed.args);
      }
    });
  });

  function answer(socket: Socket, args: string[]): void {
    const [command = "", sub = ""] = args.map((arg) => arg.toLowerCase());
    if (command === "sentinel" && sub === "get-master-addr-by-name") {
      lookups++;
      inFlight++;
      setTimeout(() => {
        inFlight--;
        if (!socket.destroyed) socket.write(array([options.master.host, String(options.master.port)]));
      }, options.lookupDelayMs);
    } else if (command === "sentinel" && sub === "sentinels") {
      socket.write("*0\r\n");
    } else if (command === "subscribe") {
      subscribers.add(socket);
      socket.write(`*3\r\n${bulk("subscribe")}${bulk(args[1] ?? "")}:1\r\n`);
    } else if (command === "ping") {
      socket.write("+PONG\r\n");
    } else {
      socket.write("+OK\r\n");
    }
  }

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    get lookups() {
      return lookups;
    },
    get lookupsInFlight() {
      return inFlight;
    },
    announceSwitch(masterName, from, to) {
      const [fromHost, fromPort] = from.split(":");
      const [toHost, toPort] = to.split(":");
      const message = `${masterName} ${fromHost} ${fromPort} ${toHost} ${toPort}`;
      for (const socket of subscribers) socket.write(`*3\r\n${bulk("message")}${bulk("+switch-master")}${bulk(message)}`);
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const bulk = (text: string) => `$${Buffer.byteLength(text)}\r\n${text}\r\n`;
const array = (items: string[]) => `*${items.length}\r\n${items.map(bulk).join("")}`;

/** One RESP array of bulk strings at the start of `input`, or undefined until it is whole. */
function parseCommand(input: string): { args: string[]; length: number } | undefined {
  if (!input.startsWith("*")) {
    // An inline command (ioredis never sends one): take the line.
    const end = input.indexOf("\r\n");
    return end < 0 ? undefined : { args: input.slice(0, end).split(" "), length: end + 2 };
  }
  let at = input.indexOf("\r\n");
  if (at < 0) return undefined;
  const count = Number(input.slice(1, at));
  at += 2;
  const args: string[] = [];
  for (let i = 0; i < count; i++) {
    const lineEnd = input.indexOf("\r\n", at);
    if (lineEnd < 0) return undefined;
    const size = Number(input.slice(at + 1, lineEnd));
    const start = lineEnd + 2;
    if (input.length < start + size + 2) return undefined;
    args.push(input.slice(start, start + size));
    at = start + size + 2;
  }
  return { args, length: at };
}
