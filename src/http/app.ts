// buildApp(deps): the whole HTTP surface as one Fastify instance, built without a port so
// tests can `inject` into it. Each feature is a plugin; auth wraps the /v1 scope.
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from "fastify";
import type { Redis } from "ioredis";
import type { Logger } from "../log.ts";
import type { EmailProducer } from "../producer.ts";
import type { SmtpConfigStore } from "../smtp-config/store.ts";
import type { DevInbox } from "../dev-inbox/inbox.ts";
import { installErrorHandling } from "./errors.ts";
import { RequestLog } from "./request-log.ts";
import { adminAuth } from "./auth.ts";
import { AuthThrottle } from "./auth-throttle.ts";
import { emailRoutes } from "./emails.ts";
import { jobRoutes } from "./jobs.ts";
import { adminJobRoutes } from "./admin-jobs.ts";
import { smtpConfigRoutes, type SmtpTesting } from "./smtp-config.ts";
import { healthRoutes } from "./health.ts";
import { boardRoutes } from "./board.ts";
import { devInboxRoutes } from "./dev-inbox.ts";
import { metricsRoutes } from "./metrics.ts";
import { adminKeyRoutes } from "./admin-keys.ts";
import type { Metrics } from "../metrics.ts";
import type { RotationReport } from "../key-rotation.ts";
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
  /** POST /v1/admin/keys/rotate: reseal everything under the current master key. */
  rotateKeys(): Promise<RotationReport>;
  /** Limits and breaker health on GET …/smtp-config, waiting jobs promoted on PUT, waitingFor on GET /v1/jobs/:id. */
  mailboxes?: MailboxAdmin;
}

export const BODY_LIMIT_BYTES = 256 * 1024;

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  // One count of refused credentials for /v1 and the board: guessing at one is guessing at both.
  const throttle = new AuthThrottle({ log: deps.log });
  const app = Fastify({
    loggerInstance: deps.log as FastifyBaseLogger,
    bodyLimit: BODY_LIMIT_BYTES,
    // A throttled address's requests are counted in the throttle's summary line instead of an
    // access-log line each: an attack must not become a log flood.
    logController: new RequestLog({
      disableRequestLogging: (request) => request.headers.authorization !== undefined && throttle.retryAfterMs(request.ip) > 0,
    }),
  });
  installErrorHandling(app);
  app.addHook("onClose", async () => throttle.close());

  await app.register(healthRoutes, { redis: deps.redis });
  if (deps.metrics) await app.register(metricsRoutes, { metrics: deps.metrics });
  await app.register(async (v1) => {
    v1.addHook("onRequest", adminAuth({ adminToken: deps.adminToken, schemes: ["bearer"], throttle }));
    await v1.register(emailRoutes, { producer: deps.producer });
    await v1.register(jobRoutes, { queue: deps.producer.queue, redis: deps.redis, mailboxes: deps.mailboxes });
    await v1.register(adminJobRoutes, { queue: deps.producer.queue, redis: deps.redis });
    await v1.register(smtpConfigRoutes, { store: deps.store, allowPrivateTargets: deps.allowPrivateTargets, testing: deps.testing, mailboxes: deps.mailboxes });
    await v1.register(adminKeyRoutes, { rotate: deps.rotateKeys });
  });
  await app.register(boardRoutes, { queue: deps.producer.queue, redis: deps.redis, adminToken: deps.adminToken, throttle, mailboxes: deps.mailboxes });
  if (deps.devInbox) await app.register(devInboxRoutes, { inbox: deps.devInbox });
  return app;
}
