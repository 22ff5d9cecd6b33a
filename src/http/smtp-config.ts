// PUT / GET / DELETE /v1/projects/:projectId/smtp-config. Secrets go in, never come out.
import type { FastifyInstance } from "fastify";
import { PROJECT_ID_PATTERN } from "../jobs/contracts.ts";
import { parseSmtpConfig } from "../smtp-config/validate.ts";
import { redactConfig } from "../smtp-config/model.ts";
import type { SmtpConfigStore } from "../smtp-config/store.ts";
import { HttpError } from "./errors.ts";

export interface SmtpConfigRouteOptions {
  store: SmtpConfigStore;
  allowPrivateTargets: boolean;
}

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

  app.put<Params>("/v1/projects/:projectId/smtp-config", async (request) => {
    const { projectId } = request.params;
    const existing = await store.get(projectId);
    const config = await parseSmtpConfig(request.body, { allowPrivateTargets: opts.allowPrivateTargets, existing: existing?.config });
    const stored = await store.put(projectId, config);
    request.log.info({ projectId, version: stored.version, authType: config.auth?.type ?? "none" }, "smtp config saved");
    return redactConfig(stored.config);
  });

  app.get<Params>("/v1/projects/:projectId/smtp-config", async (request) => {
    const stored = await store.get(request.params.projectId);
    if (!stored) throw new HttpError(404, "not_found", `project ${request.params.projectId} has no SMTP config (it uses the default server)`);
    return redactConfig(stored.config);
  });

  app.delete<Params>("/v1/projects/:projectId/smtp-config", async (request, reply) => {
    const deleted = await store.delete(request.params.projectId);
    if (!deleted) throw new HttpError(404, "not_found", `project ${request.params.projectId} has no SMTP config`);
    request.log.info({ projectId: request.params.projectId }, "smtp config deleted");
    return reply.code(204).send();
  });
}
