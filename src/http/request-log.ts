// One line per request, in place of Fastify's two. Requests nobody reads one by one go to debug:
// health checks and scrapes, the board's static files, and the board UI polling its own API
// every few seconds. Everything else (the API, board actions) stays at info.
import type { FastifyInstance, FastifyRequest } from "fastify";

const QUIET_EXACT = new Set(["/healthz", "/readyz", "/metrics", "/favicon.ico"]);
const QUIET_PREFIXES = ["/admin/queues/static/"];
/** The board UI reloads these on a timer; a GET there changes nothing. */
const QUIET_GET_PREFIXES = ["/admin/queues/api/", "/dev/inbox/assets/"];

/** True when a request is logged at debug rather than info. */
export function isQuietRequest(method: string, url: string): boolean {
  const path = url.split("?", 1)[0] ?? url;
  if (QUIET_EXACT.has(path)) return true;
  if (QUIET_PREFIXES.some((p) => path.startsWith(p))) return true;
  return (method === "GET" || method === "HEAD") && QUIET_GET_PREFIXES.some((p) => path.startsWith(p));
}

/** Needs `disableRequestLogging: true` on the instance, or Fastify logs every request twice more. */
export function installRequestLogging(app: FastifyInstance): void {
  app.addHook("onResponse", async (request: FastifyRequest, reply) => {
    const quiet = isQuietRequest(request.method, request.url) && reply.statusCode < 500;
    const fields = { req: { method: request.method, url: request.url }, res: { statusCode: reply.statusCode }, responseTime: Math.round(reply.elapsedTime) };
    if (quiet) request.log.debug(fields, "request completed");
    else request.log.info(fields, "request completed");
  });
}
