// Redis commands per email on the hot path, with and without the mailbox gate (src/mailbox/):
//   tsx bench/round-trips.ts            (ROUND_TRIPS_COUNT emails per mode, default 2000)
// Runs a worker in this process against an in-process SMTP sink and counts what each of the
// worker's two Redis connections is asked: ours (config, markers, the gate's scripts) and
// BullMQ's. Modes:
//   no gate          the deliverer without limits (what the product did before src/mailbox/);
//   generous limits  maxConnections 1000, 1,000,000/min, 1,000,000,000/day: never binds;
//   default limits   a server with no published limits: 10 connections, WORKER_CONCURRENCY 20,
//                    so half the worker slots wait for a connection (they bounce once each).
// Everything is under a fresh key prefix, deleted at the end.
import { randomBytes } from "node:crypto";
import type { AddressInfo } from "node:net";
import { SMTPServer } from "smtp-server";
import { Redis } from "ioredis";
import { loadSettings } from "../src/config.ts";
import { createLogger } from "../src/log.ts";
import { openServices, type Services } from "../src/services.ts";
import { startDelivery } from "../src/delivery/start.ts";
import { ConfigResolver } from "../src/smtp-config/resolver.ts";
import { TransportPool } from "../src/delivery/transport-pool.ts";
import { SentMarkers } from "../src/delivery/sent-markers.ts";
import { closeWorker, createEmailWorker } from "../src/delivery/worker.ts";
import type { SmtpConfig } from "../src/smtp-config/model.ts";
import { MAX_RECIPIENTS } from "../src/jobs/contracts.ts";
import { INCIDENT } from "./config.ts";

/** The Redis to count on (its commands, not the server's: a shared one is fine). */
const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

const COUNT = Number(process.env.ROUND_TRIPS_COUNT ?? 2000);
type Mode = "no gate" | "generous limits" | "default limits";

function counting(redis: Redis): Map<string, number> {
  const counts = new Map<string, number>();
  const original = redis.sendCommand.bind(redis);
  redis.sendCommand = ((command: { name: string; args?: unknown[] }) => {
    const name = command.name === "evalsha" ? `evalsha ${String(command.args?.[0]).slice(0, 8)}` : command.name;
    counts.set(name, (counts.get(name) ?? 0) + 1);
    return original(command as Parameters<Redis["sendCommand"]>[0]);
  }) as Redis["sendCommand"];
  return counts;
}

async function run(mode: Mode, port: number, received: () => number): Promise<{ mode: Mode; seconds: number; ours: Map<string, number>; bull: Map<string, number> }> {
  const prefix = `{rt-${randomBytes(4).toString("hex")}}`;
  const settings = loadSettings({ REDIS_URL, NOTIFY_PREFIX: prefix, NOTIFY_MASTER_KEY: randomBytes(32).toString("base64"), NOTIFY_ADMIN_TOKEN: randomBytes(16).toString("hex"), NOTIFY_ALLOW_PRIVATE_TARGETS: "true" });
  const log = createLogger({ level: "warn" });
  const services: Services = openServices(settings, log);
  const config: SmtpConfig = {
    host: "127.0.0.1", port, secure: false, allowInsecureAuth: true, fromEmail: "bench@notify.test",
    auth: { type: "password", username: "bench", password: "bench" },
    ...(mode === "generous limits" ? { limits: { maxConnections: 1000, messagesPerMinute: 1_000_000, messagesPerDay: 1_000_000_000 } } : {}),
  };
  await services.store.put("rt", config);
  const ours = counting(services.redis);
  const workerConnection = services.connect("worker");
  const bull = counting(workerConnection);
  let stop: () => Promise<void>;
  if (mode === "no gate") {
    const resolver = new ConfigResolver({ store: services.store, subscriber: services.connect("subscriber"), keys: services.keys, masterKey: settings.masterKey, defaultConfig: null, log });
    await resolver.start();
    const transports = new TransportPool({ log });
    const worker = createEmailWorker({ connection: workerConnection, keys: services.keys, deps: { resolver, transports, markers: new SentMarkers(services.redis, services.keys), log }, concurrency: settings.workerConcurrency, log });
    await worker.waitUntilReady();
    stop = async () => {
      await closeWorker(worker, 10_000);
      transports.closeAll();
    };
  } else {
    const delivery = await startDelivery({ ...services, connect: (kind) => (kind === "worker" ? workerConnection : services.connect(kind)) }, settings, log);
    stop = () => delivery.stop();
  }
  const warm = received();
  await services.producer.enqueue({ type: "incident", projectId: "rt", to: ["warm@bench.test"], data: INCIDENT });
  while (received() < warm + 1) await new Promise((r) => setTimeout(r, 5));
  ours.clear();
  bull.clear();
  const base = received();
  await services.producer.queue.pause();
  const to = Array.from({ length: COUNT }, (_, i) => `u${i}@bench.test`);
  for (let i = 0; i < to.length; i += MAX_RECIPIENTS) await services.producer.enqueue({ type: "incident", projectId: "rt", to: to.slice(i, i + MAX_RECIPIENTS), data: INCIDENT });
  ours.clear();
  const started = performance.now();
  await services.producer.queue.resume();
  while (received() < base + COUNT) await new Promise((r) => setTimeout(r, 5));
  const seconds = (performance.now() - started) / 1000;
  const snapshot = { ours: new Map(ours), bull: new Map(bull) };
  await stop();
  let cursor = "0";
  do {
    const [next, keys] = await services.redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
    cursor = next;
    if (keys.length > 0) await services.redis.del(...keys);
  } while (cursor !== "0");
  await services.close();
  return { mode, seconds, ...snapshot };
}

function perEmail(counts: Map<string, number>): string {
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  const parts = [...counts].sort((a, b) => b[1] - a[1]).filter(([, n]) => n / COUNT >= 0.01).map(([name, n]) => `${name} ${(n / COUNT).toFixed(2)}`);
  return `${(total / COUNT).toFixed(2)}  (${parts.join(", ")})`;
}

let count = 0;
const sink = new SMTPServer({
  logger: false, secure: false, disabledCommands: ["STARTTLS"], authMethods: ["PLAIN"], allowInsecureAuth: true, disableReverseLookup: true,
  onAuth: (_auth, _session, callback) => callback(null, { user: "bench" }),
  onData(stream, _session, callback) {
    stream.on("data", () => {});
    stream.on("end", () => {
      count++;
      callback(null);
    });
  },
});
await new Promise<void>((resolve) => sink.listen(0, "127.0.0.1", resolve));
const port = (sink.server.address() as AddressInfo).port;
try {
  for (const mode of ["no gate", "generous limits", "default limits"] as const) {
    const r = await run(mode, port, () => count);
    process.stdout.write(`${mode.padEnd(16)} ${Math.round(COUNT / r.seconds)} emails/s\n  our connection, commands/email:    ${perEmail(r.ours)}\n  BullMQ's connection, commands/email: ${perEmail(r.bull)}\n`);
  }
} finally {
  await new Promise<void>((resolve) => sink.close(() => resolve()));
}
process.exit(0);
