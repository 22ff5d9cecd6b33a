// POST /v1/admin/keys/rotate: reseal everything stored at rest under the current master key
// (see src/key-rotation.ts). Idempotent; answers the counts, which `notify-smtp keys rotate` prints.
import type { FastifyInstance } from "fastify";
import type { RotationReport } from "../key-rotation.ts";

export interface AdminKeyRouteOptions {
  rotate(): Promise<RotationReport>;
}

export async function adminKeyRoutes(app: FastifyInstance, opts: AdminKeyRouteOptions): Promise<void> {
  // One rotation at a time per process: a double-clicked CLI does the work once.
  let running: Promise<RotationReport> | undefined;

  app.post("/v1/admin/keys/rotate", async (request) => {
    running ??= opts.rotate().finally(() => (running = undefined));
    const report = await running;
    const { unreadableProjects, ...configs } = report.configs;
    request.log.info({ keyId: report.keyId, configs, tokens: report.tokens, unreadableProjects }, "master key rotation ran");
    return report;
  });
}
