// GET /metrics: Prometheus text. Unauthenticated like /healthz (scrapers rarely carry tokens);
// it shows counts and timings, never a secret, an address or a project id.
import type { FastifyInstance } from "fastify";
import type { Metrics } from "../metrics.ts";

export async function metricsRoutes(app: FastifyInstance, opts: { metrics: Metrics }): Promise<void> {
  app.get("/metrics", async (_request, reply) => {
    const body = await opts.metrics.registry.metrics();
    return reply.type(opts.metrics.registry.contentType).send(body);
  });
}
