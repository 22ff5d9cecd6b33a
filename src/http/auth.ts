// The admin token guard: `Authorization: Bearer <token>`, or for browsers HTTP Basic with the
// token as the password. Compared in constant time.
import { createHash, timingSafeEqual } from "node:crypto";
import type { FastifyReply, FastifyRequest } from "fastify";
import { errorBody } from "./errors.ts";

export interface AuthOptions {
  adminToken: string;
  /** Answer with a Basic challenge so browsers show a login prompt (the board). */
  basicChallenge?: boolean;
}

export function adminAuth(options: AuthOptions) {
  const expected = digest(options.adminToken);
  return async function requireAdmin(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const presented = presentedToken(request.headers.authorization);
    if (presented !== null && timingSafeEqual(digest(presented), expected)) return;
    if (options.basicChallenge) {
      reply.header("WWW-Authenticate", 'Basic realm="notify-smtp", charset="UTF-8"');
      await reply.code(401).send(errorBody("unauthorized", "sign in with any user name and NOTIFY_ADMIN_TOKEN as the password, or send Authorization: Bearer <NOTIFY_ADMIN_TOKEN>"));
      return;
    }
    reply.header("WWW-Authenticate", 'Bearer realm="notify-smtp"');
    await reply.code(401).send(errorBody("unauthorized", "send Authorization: Bearer <NOTIFY_ADMIN_TOKEN>"));
  };
}

function presentedToken(header: string | undefined): string | null {
  if (!header) return null;
  const [scheme, value] = header.split(" ", 2);
  if (!value) return null;
  if (scheme?.toLowerCase() === "bearer") return value.trim();
  if (scheme?.toLowerCase() === "basic") {
    const decoded = Buffer.from(value, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    return colon >= 0 ? decoded.slice(colon + 1) : null;
  }
  return null;
}

/** Hashing first makes the comparison length-independent. */
function digest(value: string): Buffer {
  return createHash("sha256").update(value).digest();
}
