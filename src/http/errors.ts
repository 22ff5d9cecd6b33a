// One error shape for every route: `{ error: { code, message, details? } }`. Unknown errors
// become a 500 with a generic message (the detail goes to the log, never to the client).
import type { FastifyError, FastifyInstance } from "fastify";
import { ValidationError, type FieldError } from "../validation.ts";
import { RedisUnavailableError } from "../redis.ts";
import { isConnectionError } from "../redis/health.ts";
import { UnreadableConfigError } from "../smtp-config/unreadable.ts";

export class HttpError extends Error {
  override name = "HttpError";
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly details?: FieldError[],
  ) {
    super(message);
  }
}

export function errorBody(code: string, message: string, details?: FieldError[]) {
  return { error: details ? { code, message, details } : { code, message } };
}

export function installErrorHandling(app: FastifyInstance): void {
  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send(errorBody("not_found", `no route for ${request.method} ${request.url.split("?")[0]}`));
  });
  app.setErrorHandler((error: FastifyError | Error, request, reply) => {
    if (error instanceof ValidationError) return reply.code(400).send(errorBody(error.code, error.message, error.details));
    if (error instanceof HttpError) return reply.code(error.statusCode).send(errorBody(error.code, error.message, error.details));
    // A config sealed under a key we lack is the operator's to fix, not a bug of ours: say how.
    if (error instanceof UnreadableConfigError) return reply.code(409).send(errorBody(error.code, `${error.message}. To fix: ${error.hint}`));
    const statusCode = (error as FastifyError).statusCode ?? 500;
    const code = (error as FastifyError).code;
    if (statusCode === 413 || code === "FST_ERR_CTP_BODY_TOO_LARGE") {
      return reply.code(413).send(errorBody("payload_too_large", "the request body is larger than 256 KB"));
    }
    if (code === "FST_ERR_CTP_INVALID_MEDIA_TYPE") {
      return reply.code(415).send(errorBody("unsupported_media_type", "send JSON with Content-Type: application/json"));
    }
    if (statusCode >= 400 && statusCode < 500) {
      // Fastify's own client errors (malformed JSON, empty body): say what, not where.
      return reply.code(statusCode).send(errorBody("bad_request", error.message.replace(/^FST_\w+: /, "")));
    }
    if (isRedisUnavailable(error)) {
      request.log.warn({ err: { message: error.message } }, "Redis unavailable");
      reply.header("Retry-After", "5");
      return reply.code(503).send(errorBody("redis_unavailable", "the queue (Redis) is not reachable; nothing was changed, try again shortly"));
    }
    request.log.error({ err: error }, "request failed");
    return reply.code(500).send(errorBody("internal", "something went wrong on our side; the log has the details"));
  });
}

/** ioredis gave up on a command, or the producer's deadline passed. */
function isRedisUnavailable(error: Error): boolean {
  return error instanceof RedisUnavailableError || isConnectionError(error);
}
