// Liveness and readiness. Readiness means Redis answers: without it we can neither enqueue nor send.
import type { FastifyInstance } from "fastify";
import type { Redis } from "ioredis";
import { errorBody } from "./errors.ts";

export async function healthRoutes(app: FastifyInstance, opts: { redis: Redis }): Promise<void> {
  app.get("/healthz", async () => ({ ok: true }));
  app.get("/readyz", async (_request, reply) => {
    try {
      await withTimeout(opts.redis.ping(), 1000);
      return { ok: true, redis: "up" };
    } catch {
      return reply.code(503).send(errorBody("redis_unavailable", "Redis does not answer"));
    }
  });
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error("timeout")), ms))),
  ]);
}
