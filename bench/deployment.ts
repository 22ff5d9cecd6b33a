// One product deployment under a fresh key prefix on the bench's Redis: its master key, config
// store and producer; SMTP configs put through the PUT route's validation; workers started as
// production runs them. `close()` stops everything and deletes the prefix's keys.
import { randomBytes } from "node:crypto";
import type { Redis } from "ioredis";
import { createKeys } from "../src/keys.ts";
import { parseMasterKey } from "../src/crypto/master-key.ts";
import { SmtpConfigStore } from "../src/smtp-config/store.ts";
import { parseSmtpConfig } from "../src/smtp-config/validate.ts";
import { ValidationError } from "../src/validation.ts";
import { createEmailProducer, type EmailProducer } from "../src/producer.ts";
import { MAX_RECIPIENTS, type EmailType } from "../src/jobs/contracts.ts";
import { FROM_EMAIL, FROM_NAME, INCIDENT, STATUS_PAGE } from "./config.ts";
import { startWorker, type Sink, type WorkerHandle } from "./children.ts";
import type { BenchCerts } from "./certs.ts";
import type { TokenEndpoint } from "./token-endpoint.ts";
import { SINK_PASS, SINK_USER } from "./sink-protocol.ts";

/** What every phase gets: the peers (sink, token endpoint, Redis) and the run's abort. */
export interface Context {
  sink: Sink;
  redis: { url: string; client: Redis };
  certs: BenchCerts;
  tokens: TokenEndpoint;
  /** client id → secret, known to the token endpoint. */
  clients: Map<string, string>;
  abort: AbortController;
  /** Deployments still open (closed by run.ts whatever happens). */
  open: Set<Deployment>;
}

export type Auth = "password" | "oauth";
export interface ConfigShape {
  tls: boolean;
  auth: Auth;
  /** Per-mailbox limits (only once src/mailbox/ has landed). */
  limits?: Record<string, number>;
}

/**
 * The PUT body of a project's SMTP config against the sink. Each index is its own mailbox (its
 * own SMTP user and sender), as different customers' projects are: a mailbox's limits (10
 * connections by default) are shared by every project that sends as it, and the bench
 * measures the product, not that limit.
 */
export function configBody(ctx: Context, shape: ConfigShape, index: number): Record<string, unknown> {
  const username = index === 0 ? SINK_USER : `${SINK_USER}-${index}`;
  let auth: Record<string, unknown> = { type: "password", username, password: SINK_PASS };
  if (shape.auth === "oauth") {
    const clientId = `bench-client-${index}`;
    ctx.clients.set(clientId, ctx.clients.get(clientId) ?? randomBytes(16).toString("hex"));
    auth = { type: "oauth", clientId, clientSecret: ctx.clients.get(clientId), tokenUrl: ctx.tokens.url, scope: "smtp.send" };
  }
  return {
    host: "127.0.0.1",
    port: shape.tls ? ctx.sink.tlsPort : ctx.sink.plainPort,
    // secure on port != 465: STARTTLS required; plain: AUTH in the clear, explicitly allowed.
    secure: shape.tls,
    ...(shape.tls ? {} : { allowInsecureAuth: true }),
    fromEmail: index === 0 ? FROM_EMAIL : FROM_EMAIL.replace("@", `-${index}@`),
    fromName: FROM_NAME,
    auth,
    ...(shape.limits ? { limits: shape.limits } : {}),
  };
}

export class Deployment {
  readonly prefix = `{bench-${randomBytes(6).toString("hex")}}`;
  readonly masterKeyB64 = randomBytes(32).toString("base64");
  readonly producer: EmailProducer;
  readonly workers: WorkerHandle[] = [];
  private readonly store: SmtpConfigStore;

  constructor(private readonly ctx: Context) {
    this.store = new SmtpConfigStore(ctx.redis.client, createKeys(this.prefix), parseMasterKey(this.masterKeyB64, "bench master key"));
    this.producer = createEmailProducer({ redis: ctx.redis.url, prefix: this.prefix });
    ctx.open.add(this);
  }

  /** PUT /v1/projects/:id/smtp-config's validation and store. False when the body is refused as invalid. */
  async putConfig(projectId: string, body: Record<string, unknown>): Promise<boolean> {
    try {
      await this.store.put(projectId, await parseSmtpConfig(body, { allowPrivateTargets: true }));
      return true;
    } catch (err) {
      if (err instanceof ValidationError) return false;
      throw err;
    }
  }

  startWorkers(n: number): WorkerHandle[] {
    const started = Array.from({ length: n }, () =>
      startWorker({ redisUrl: this.ctx.redis.url, prefix: this.prefix, masterKeyB64: this.masterKeyB64, caFile: this.ctx.certs.caFile }, this.ctx.abort),
    );
    this.workers.push(...started);
    return started;
  }

  /** One request per MAX_RECIPIENTS recipients, as an application fanning out would send them. */
  async enqueue(projectId: string, type: EmailType, to: string[], idempotencyKey: string): Promise<void> {
    for (let i = 0; i < to.length; i += MAX_RECIPIENTS) {
      const chunk = to.slice(i, i + MAX_RECIPIENTS);
      await this.producer.enqueue(type === "status-page" ? { type, projectId, to: chunk, idempotencyKey, data: STATUS_PAGE } : { type: "incident", projectId, to: chunk, idempotencyKey, data: INCIDENT });
    }
  }

  /**
   * `to` spread over `projects` in slices of `slice`, the projects taking turns, so every
   * project's pool is busy at once whatever the queue order.
   */
  async enqueueSpread(projects: string[], to: string[], idempotencyKey: string, slice = 100): Promise<void> {
    for (let i = 0, p = 0; i < to.length; i += slice, p = (p + 1) % projects.length) {
      await this.enqueue(projects[p]!, "incident", to.slice(i, i + slice), idempotencyKey);
    }
  }

  async failedJobs(): Promise<number> {
    return (await this.producer.queue.getJobCounts("failed")).failed ?? 0;
  }

  async stopWorkers(graceMs = 30_000): Promise<void> {
    await Promise.all(this.workers.splice(0).map((w) => w.stop(graceMs)));
  }

  async close(): Promise<void> {
    this.ctx.open.delete(this);
    await this.stopWorkers(5_000);
    await this.producer.close().catch(() => {});
    await deletePrefix(this.ctx.redis.client, this.prefix).catch((err: unknown) => process.stderr.write(`bench: could not delete keys under ${this.prefix}: ${(err as Error).message}\n`));
  }
}

async function deletePrefix(redis: Redis, prefix: string): Promise<void> {
  const pattern = `${prefix.replace(/[*?[\]\\]/g, "\\$&")}:*`;
  let cursor = "0";
  do {
    const [next, found] = await redis.scan(cursor, "MATCH", pattern, "COUNT", 1000);
    cursor = next;
    if (found.length > 0) await redis.del(...found);
  } while (cursor !== "0");
}
