// Cross-site request forgery guard for the board: a browser that has the Basic credentials
// cached sends them with any request, including a form another site submits. Requests that
// change something (anything but GET/HEAD/OPTIONS) must come from the board's own origin.
// The browser says so itself: `Sec-Fetch-Site` (modern browsers), else `Origin`. A request with
// neither comes from a script or curl, which no other site can make a browser send.
import type { FastifyReply, FastifyRequest } from "fastify";
import { errorBody } from "./errors.ts";

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

export async function requireSameOrigin(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  if (SAFE_METHODS.has(request.method) || isSameOrigin(request)) return;
  request.log.warn({ method: request.method, url: request.url.split("?")[0], origin: String(request.headers.origin ?? "").slice(0, 200), fetchSite: request.headers["sec-fetch-site"] }, "cross-origin board request refused");
  await reply.code(403).send(errorBody("cross_origin_refused", "the board only accepts changes from its own pages (Origin / Sec-Fetch-Site is another site)"));
}

function isSameOrigin(request: FastifyRequest): boolean {
  const site = request.headers["sec-fetch-site"];
  // "none": the user typed it or used a bookmark, which no other site can cause.
  if (typeof site === "string") return site === "same-origin" || site === "none";
  const origin = request.headers.origin;
  if (origin === undefined) return true;
  // Host only, not scheme: behind a TLS-terminating proxy the page is https while we see http.
  if (!URL.canParse(origin)) return false;
  return new URL(origin).host.toLowerCase() === String(request.headers.host ?? "").toLowerCase();
}
