// POST /v1/emails: validate and enqueue, one job per recipient.
import type { FastifyInstance } from "fastify";
import type { EmailProducer } from "../producer.ts";

export async function emailRoutes(app: FastifyInstance, opts: { producer: EmailProducer }): Promise<void> {
  app.post("/v1/emails", async (request, reply) => {
    const result = await opts.producer.enqueue(request.body);
    return reply.code(202).send(result);
  });
}
