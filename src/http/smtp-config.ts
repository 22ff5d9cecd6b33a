// PUT / GET / DELETE /v1/projects/:projectId/smtp-config, and POST …/test. Secrets go in,
// never come out.
import type { FastifyInstance } from "fastify";
import { PROJECT_ID_PATTERN } from "../jobs/contracts.ts";
import { parseSmtpConfig } from "../smtp-config/validate.ts";
import { redactConfig } from "../smtp-config/model.ts";
import type { SmtpConfigStore } from "../smtp-config/store.ts";
import { HttpError } from "./errors.ts";
import type { MasterKey } from "../crypto/master-key.ts";
import type { SmtpConfig } from "../smtp-config/model.ts";
import { resolveDefault, resolveStored } from "../smtp-config/resolver.ts";
import { testSend } from "../delivery/test-send.ts";
import type { XOAuth2 } from "../delivery/xoauth2.ts";
import type { TransportTuning } from "../delivery/transport-options.ts";
import { compileValidator, ValidationError } from "../validation.ts";
import { emailAddressSchema } from "../jobs/schemas.ts";
import { existingForPut } from "./unreadable-config.ts";
import { UnreadableConfigError } from "../smtp-config/unreadable.ts";
import type { MailboxAdmin } from "../mailbox/admin.ts";

/** What trying a config needs: the same token provider and TLS settings as the worker. */
export interface SmtpTesting {
  masterKey: MasterKey;
  xoauth2: XOAuth2;
  /** The default server, tested for projects without a config of their own. */
  defaultConfig: SmtpConfig | null;
  tuning?: TransportTuning;
}

export interface SmtpConfigRouteOptions {
  store: SmtpConfigStore;
  allowPrivateTargets: boolean;
  testing: SmtpTesting;
  /** Effective limits and breaker health on GET; a PUT closes the breaker and promotes waiting jobs. */
  mailboxes?: MailboxAdmin;
}

const validateTestBody = compileValidator({
  type: "object",
  additionalProperties: false,
  required: ["to"],
  properties: { to: emailAddressSchema },
});

const projectIdPattern = new RegExp(PROJECT_ID_PATTERN);

type Params = { Params: { projectId: string } };

export async function smtpConfigRoutes(app: FastifyInstance, opts: SmtpConfigRouteOptions): Promise<void> {
  const { store } = opts;

  app.addHook("preHandler", async (request) => {
    const { projectId } = request.params as { projectId?: string };
    if (projectId !== undefined && !projectIdPattern.test(projectId)) {
      throw new HttpError(400, "validation_failed", "the project id is invalid", [{ field: "projectId", message: `must match ${PROJECT_ID_PATTERN}` }]);
    }
  });

  app.put<Params & { Querystring: { verify?: string } }>("/v1/projects/:projectId/smtp-config", async (request, reply) => {
    const { projectId } = request.params;
    const { existing, replacesUnreadable } = await existingForPut(store, projectId, request.body);
    const config = await parseSmtpConfig(request.body, { allowPrivateTargets: opts.allowPrivateTargets, existing: existing?.config });
    if (request.query.verify === "true" || request.query.verify === "1") {
      // Token, connect, TLS and login with the new config; the old one stays unless all pass.
      const candidate = resolveStored(projectId, { config, version: (existing?.version ?? 0) + 1, updatedAt: "" }, opts.testing.masterKey);
      const outcome = await testSend(candidate, { xoauth2: opts.testing.xoauth2, tuning: opts.testing.tuning });
      if (!outcome.ok) return reply.code(422).send(outcome);
    }
    const stored = await store.put(projectId, config, { replaceUnreadable: replacesUnreadable });
    await opts.mailboxes?.configChanged(projectId, existing?.config ?? opts.testing.defaultConfig, config, true);
    request.log.info({ projectId, version: stored.version, authType: config.auth?.type ?? "none" }, "smtp config saved");
    return redactConfig(stored.config);
  });

  app.get<Params>("/v1/projects/:projectId/smtp-config", async (request) => {
    const stored = await store.get(request.params.projectId);
    if (!stored) throw new HttpError(404, "not_found", `project ${request.params.projectId} has no SMTP config (it uses the default server)`);
    return { ...redactConfig(stored.config), ...(await opts.mailboxes?.view(stored.config)) };
  });

  app.post<Params>("/v1/projects/:projectId/smtp-config/test", async (request, reply) => {
    const { projectId } = request.params;
    const errors = validateTestBody(request.body);
    if (errors.length > 0) throw new ValidationError("the test request is invalid", errors);
    const { to } = request.body as { to: string };
    const stored = await store.get(projectId);
    const { testing } = opts;
    const resolved = stored ? resolveStored(projectId, stored, testing.masterKey) : testing.defaultConfig && resolveDefault(testing.defaultConfig, testing.masterKey);
    if (!resolved) throw new HttpError(404, "not_found", `project ${projectId} has no SMTP config and no DEFAULT_SMTP_URL is set`);
    const outcome = await testSend(resolved, { to, xoauth2: testing.xoauth2, tuning: testing.tuning });
    request.log.info({ projectId, ok: outcome.ok, stage: outcome.ok ? undefined : outcome.stage, timingsMs: outcome.timingsMs }, "smtp config tested");
    return reply.code(outcome.ok ? 200 : 422).send({ ...outcome, server: stored ? "project" : "default" });
  });

  app.delete<Params>("/v1/projects/:projectId/smtp-config", async (request, reply) => {
    // DELETE needs no key: a config sealed under an unknown one can still be removed (its
    // mailbox's waiting jobs are then left to their own wait bounds).
    const previous = opts.mailboxes ? await store.get(request.params.projectId).catch((err: unknown) => {
      if (err instanceof UnreadableConfigError) return null;
      throw err;
    }) : null;
    const deleted = await store.delete(request.params.projectId);
    if (!deleted) throw new HttpError(404, "not_found", `project ${request.params.projectId} has no SMTP config`);
    await opts.mailboxes?.configChanged(request.params.projectId, previous?.config ?? null, opts.testing.defaultConfig, false);
    request.log.info({ projectId: request.params.projectId }, "smtp config deleted");
    return reply.code(204).send();
  });
}
