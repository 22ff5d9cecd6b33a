// buildApp(deps): the whole HTTP surface as one Fastify instance, built without a port so
// tests can `inject` into it. Each feature is a plugin; auth wraps the /v1 scope.
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from "fastify";
import type { Redis } from "ioredis";
import type { Logger } from "../log.ts";
import type { EmailProducer } from "../producer.ts";
import type { SmtpConfigStore } from "../smtp-config/store.ts";
import type { DevInbox } from "../dev-inbox/inbox.ts";
import { installErrorHandling } from "./errors.ts";
import { adminAuth } from "./auth.ts";
import { emailRoutes } from "./emails.ts";
import { jobRoutes } from "./jobs.ts";
import { adminJobRoutes } from "./admin-jobs.ts";
import { smtpConfigRoutes, type SmtpTesting } from "./smtp-config.ts";
import { healthRoutes } from "./health.ts";
import { boardRoutes } from "./board.ts";
import { devInboxRoutes } from "./dev-inbox.ts";
import { metricsRoutes } from "./metrics.ts";
import type { Metrics } from "../metrics.ts";
import type { MailboxAdmin } from "../mailbox/admin.ts";

export interface AppDeps {
  log: Logger;
  redis: Redis;
  producer: EmailProducer;
  store: SmtpConfigStore;
  adminToken: string;
  allowPrivateTargets: boolean;
  /** What POST …/smtp-config/test and PUT ?verify=true need. */
  testing: SmtpTesting;
  /** Mounted at /dev/inbox when present (never in production). */
  devInbox?: DevInbox;
  /** Served at /metrics when present. */
  metrics?: Metrics;
  /** Limits and breaker health on GET …/smtp-config, waiting jobs promoted on PUT, waitingFor on GET /v1/jobs/:id. */
  mailboxes?: MailboxAdmin;
}

export const BODY_LIMIT_BYTES = 256 * 1024;

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({ loggerInstance: deps.log as FastifyBaseLogger, bodyLimit: BODY_LIMIT_BYTES });
  installErrorHandling(app);

  await app.register(healthRoutes, { redis: deps.redis });
  if (deps.metrics) await app.register(metricsRoutes, { metrics: deps.metrics });
  await app.register(async (v1) => {
    v1.addHook("onRequest", adminAuth({ adminToken: deps.adminToken }));
    await v1.register(emailRoutes, { producer: deps.producer });
    await v1.register(jobRoutes, { queue: deps.producer.queue, mailboxes: deps.mailboxes });
    await v1.register(adminJobRoutes, { queue: deps.producer.queue });
    await v1.register(smtpConfigRoutes, { store: deps.store, allowPrivateTargets: deps.allowPrivateTargets, testing: deps.testing, mailboxes: deps.mailboxes });
  });
  await app.register(boardRoutes, { queue: deps.producer.queue, adminToken: deps.adminToken });
  if (deps.devInbox) await app.register(devInboxRoutes, { inbox: deps.devInbox });
  return app;
}
