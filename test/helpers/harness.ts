// One test file's world: its own key prefix, master key and admin token, captured logs, the
// real services, optionally a worker, and the HTTP app (driven with `inject`, no port).
// `close()` stops everything and deletes every key under the prefix (never FLUSHALL).
import { randomBytes } from "node:crypto";
import { Writable } from "node:stream";
import type { FastifyInstance } from "fastify";
import type { Redis } from "ioredis";
import { loadSettings, type Settings } from "../../src/config.ts";
import { createLogger, type Logger } from "../../src/log.ts";
import { openServices, type Services } from "../../src/services.ts";
import { startDelivery, type Delivery, type DeliveryOptions } from "../../src/delivery/start.ts";
import { buildApp, type AppDeps } from "../../src/http/app.ts";
import { testCerts } from "./certs.ts";
import { assembleApiDeps } from "../../src/http/api-deps.ts";
import { createMetrics, type Metrics } from "../../src/metrics.ts";
import { slotNode } from "../../src/redis.ts";

export const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

export interface HarnessOptions {
  /** Extra environment, e.g. DEFAULT_SMTP_URL. */
  env?: Record<string, string>;
  /** Start an in-process worker (default true). */
  worker?: boolean;
  /** Worker options; `tokenEndpoint` applies to the API's test-sends too. */
  delivery?: DeliveryOptions;
}

export interface Harness {
  settings: Settings;
  log: Logger;
  /** Every log line written so far (JSON text). */
  logs: string[];
  services: Services;
  delivery: Delivery | undefined;
  metrics: Metrics;
  app: FastifyInstance;
  /** What `app` was built from: lets a test build a variant (e.g. with another Redis client). */
  appDeps: AppDeps;
  /** `Authorization` header value for the API. */
  auth: { authorization: string };
  /** The env a child worker process needs to join this harness. */
  childEnv: Record<string, string>;
  close(): Promise<void>;
}

export function uniquePrefix(name: string): string {
  return `{t-${name}-${randomBytes(4).toString("hex")}}`;
}

export async function createHarness(name: string, options: HarnessOptions = {}): Promise<Harness> {
  const childEnv: Record<string, string> = {
    REDIS_URL,
    NOTIFY_PREFIX: uniquePrefix(name),
    NOTIFY_MASTER_KEY: randomBytes(32).toString("base64"),
    NOTIFY_ADMIN_TOKEN: randomBytes(24).toString("hex"),
    NOTIFY_ALLOW_PRIVATE_TARGETS: "true",
    JOB_BACKOFF_MS: "100",
    JOB_BACKOFF_MAX_MS: "2000",
    WORKER_CONCURRENCY: "10",
    // Failures no retry can cure fail at once, as tests of those failures expect; the breaker
    // tests (mailbox-limits.test.ts) let jobs wait for it instead.
    BREAKER_MAX_WAIT_MS: "0",
    LOG_LEVEL: "debug",
    ...options.env,
  };
  const settings = loadSettings(childEnv);
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      logs.push(...chunk.toString("utf8").split("\n").filter(Boolean));
      callback();
    },
  });
  const log = createLogger({ level: "debug", destination: sink });
  const services = openServices(settings, log);
  const metrics = createMetrics();
  metrics.trackQueue(services.producer.queue);
  const delivery =
    options.worker === false
      ? undefined
      : await startDelivery(services, settings, log, {
          observer: metrics.delivery,
          tokenObserver: metrics.tokens,
          ...options.delivery,
          transport: { ca: testCerts().ca, ...options.delivery?.transport },
          closeGraceMs: 5000,
        });
  if (delivery) metrics.trackTransports(() => delivery.transports.size);
  const api = assembleApiDeps(services, settings, log, { metrics, tuning: { ca: testCerts().ca, connectionTimeoutMs: 3000 }, tokenEndpoint: options.delivery?.tokenEndpoint });
  const appDeps = api.deps;
  const app = await buildApp(appDeps);
  await app.ready();

  return {
    settings,
    log,
    logs,
    services,
    delivery,
    metrics,
    app,
    appDeps,
    auth: { authorization: `Bearer ${settings.adminToken}` },
    childEnv,
    async close() {
      await app.close();
      await delivery?.stop();
      await api.close();
      await deleteKeys(services.redis, settings.prefix);
      await services.close();
    },
  };
}

/** Deletes every key that starts with `prefix` (on a Cluster: in the prefix's slot). */
export async function deleteKeys(redis: Redis, prefix: string): Promise<void> {
  const pattern = `${prefix.replace(/[*?[\]\\]/g, "\\$&")}*`;
  const node = slotNode(redis, prefix) ?? redis;
  let cursor = "0";
  do {
    const [next, keys] = await node.scan(cursor, "MATCH", pattern, "COUNT", 1000);
    cursor = next;
    if (keys.length > 0) await redis.del(...keys);
  } while (cursor !== "0");
}

/** Polls `check` until it returns a value (not undefined), or fails after `timeoutMs`. */
export async function eventually<T>(check: () => Promise<T | undefined> | T | undefined, timeoutMs = 10_000, what = "condition"): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** What `GET /v1/jobs/:id` answers. */
export interface JobView {
  id: string;
  type: string;
  projectId: string;
  to: string;
  state: string;
  attempts: number;
  failedReason?: string;
  result?: { messageId: string; response: string };
  /** While delayed: why (rate_limit, throttled, breaker_open, backoff), until when, and a line of detail. */
  waitingFor?: string;
  waitingUntil?: string;
  waitReason?: string;
}

/** `GET /v1/jobs/:id` through the app; throws on anything but 200. */
export async function getJob(h: Harness, id: string): Promise<JobView> {
  const res = await h.app.inject({ method: "GET", url: `/v1/jobs/${encodeURIComponent(id)}`, headers: h.auth });
  if (res.statusCode !== 200) throw new Error(`GET /v1/jobs/${id} → ${res.statusCode} ${res.body}`);
  return res.json() as JobView;
}

/**
 * Polls `GET /v1/jobs/:id` until the job is in one of `states` (e.g. "completed"). A job that
 * reaches a final state (completed, failed) not in `states` fails the wait at once, with its view.
 *
 * The route reads the job's fields and then its state in two round trips, so the answer that
 * first shows a new state may carry the fields from just before it (no failedReason / result
 * yet). Once a state is seen, the job is read once more, so callers get a settled view.
 */
export function waitForJobState(h: Harness, id: string, states: string[], timeoutMs = 15_000): Promise<JobView> {
  return eventually(async () => {
    const seen = await getJob(h, id);
    if (!states.includes(seen.state) && seen.state !== "completed" && seen.state !== "failed") return undefined;
    const job = await getJob(h, id);
    if (states.includes(job.state)) return job;
    if (job.state !== "completed" && job.state !== "failed") return undefined;
    throw new Error(`job ${id} ended ${job.state}, not ${states.join("/")}: ${JSON.stringify(job)}`);
  }, timeoutMs, `job ${id} to be ${states.join(" or ")}`);
}

/** A STARTTLS + password config for a test SMTP server on localhost. */
export function passwordConfig(port: number, user: string, pass: string): Record<string, unknown> {
  return {
    host: "localhost", port, secure: true, fromEmail: "status@acme.test", fromName: "Acme Status",
    auth: { type: "password", username: user, password: pass },
  };
}

/** PUT a project's SMTP config through the API; fails the test unless it is stored. */
export async function putConfig(h: Harness, projectId: string, config: Record<string, unknown>): Promise<void> {
  const res = await h.app.inject({ method: "PUT", url: `/v1/projects/${projectId}/smtp-config`, headers: h.auth, payload: config });
  if (res.statusCode !== 200) throw new Error(`PUT smtp-config for ${projectId} answered ${res.statusCode}: ${res.body}`);
}

/** POST /v1/emails through the API; fails the test unless it answers 202. Returns the job ids in order. */
export async function enqueue(h: Harness, request: Record<string, unknown>): Promise<string[]> {
  const res = await h.app.inject({ method: "POST", url: "/v1/emails", headers: h.auth, payload: request });
  if (res.statusCode !== 202) throw new Error(`POST /v1/emails answered ${res.statusCode}: ${res.body}`);
  return (res.json() as { jobs: { id: string }[] }).jobs.map((job) => job.id);
}
