// One line per request, in place of Fastify's two ("incoming request" + "request completed").
// Requests nobody reads one by one go to debug: health checks and scrapes, the board's static
// files, and the board UI and dev inbox polling their own APIs every few seconds. Everything
// else (the API, board actions) stays at info, and errors keep Fastify's own handling.
import { LogController, type FastifyReply, type FastifyRequest } from "fastify";

const QUIET_EXACT = new Set(["/healthz", "/readyz", "/metrics", "/favicon.ico"]);
const QUIET_PREFIXES = ["/admin/queues/static/"];
/** Read on a timer by the pages themselves; a GET there changes nothing. */
const QUIET_GET_PREFIXES = ["/admin/queues/api/", "/dev/inbox/assets/"];

/** True when a request is logged at debug rather than info. */
export function isQuietRequest(method: string, url: string): boolean {
  const [path = url, query = ""] = url.split("?", 2);
  if (QUIET_EXACT.has(path)) return true;
  if (QUIET_PREFIXES.some((p) => path.startsWith(p))) return true;
  const read = method === "GET" || method === "HEAD";
  if (read && path === "/dev/inbox" && /(^|&)format=json(&|$)/.test(query)) return true;
  return read && QUIET_GET_PREFIXES.some((p) => path.startsWith(p));
}

export class RequestLog extends LogController {
  override incomingRequest(): void {
    // Folded into requestCompleted's line.
  }

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    // e.g. a throttled address (app.ts): its requests are counted in one summary line instead.
    if (this.isLogDisabled(request)) return;
    const fields = { req: { method: request.method, url: request.url }, res: { statusCode: reply.statusCode }, responseTime: Math.round(reply.elapsedTime) };
    if (error) reply.log.error({ ...fields, err: error }, "request errored");
    else if (isQuietRequest(request.method, request.url) && reply.statusCode < 500) reply.log.debug(fields, "request completed");
    else reply.log.info(fields, "request completed");
  }
}
