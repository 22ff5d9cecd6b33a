// The admin token guard. `/v1` takes only `Authorization: Bearer <token>`; the board also takes
// HTTP Basic with the token as the password, because a browser can only send that by itself.
// The header must be exactly one scheme and one credential (`Bearer <token> garbage` is
// refused); the token is compared in constant time; refused credentials are counted per client
// address (auth-throttle.ts) and the address is answered 429 once it has had too many.
import { createHash, timingSafeEqual } from "node:crypto";
import type { FastifyReply, FastifyRequest } from "fastify";
import { errorBody } from "./errors.ts";
import type { AuthThrottle } from "./auth-throttle.ts";

export type AuthScheme = "bearer" | "basic";

export interface AuthOptions {
  adminToken: string;
  /** Which Authorization schemes are accepted. Default ["bearer"]. */
  schemes?: readonly AuthScheme[];
  /** Answer 401 with a Basic challenge so browsers show a login prompt (the board). Default false. */
  basicChallenge?: boolean;
  /** Counts refused credentials per address; without one nothing is throttled. */
  throttle?: AuthThrottle;
}

export function adminAuth(options: AuthOptions) {
  const expected = digest(options.adminToken);
  const schemes = options.schemes ?? ["bearer"];
  return async function requireAdmin(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const header = request.headers.authorization;
    const { throttle } = options;
    // No credentials at all is not a guess: a browser's first request, a forgotten header.
    if (header !== undefined && throttle) {
      const wait = throttle.retryAfterMs(request.ip);
      if (wait > 0) {
        throttle.throttled(request.ip);
        reply.header("Retry-After", String(Math.ceil(wait / 1000)));
        await reply.code(429).send(errorBody("too_many_attempts", "too many refused admin credentials from this address; wait for Retry-After seconds"));
        return;
      }
    }
    const presented = presentedToken(header, schemes);
    if (presented !== null && timingSafeEqual(digest(presented), expected)) {
      throttle?.succeeded(request.ip);
      return;
    }
    if (header !== undefined) throttle?.failed(request.ip);
    if (options.basicChallenge) {
      reply.header("WWW-Authenticate", 'Basic realm="notify-smtp", charset="UTF-8"');
      await reply.code(401).send(errorBody("unauthorized", "sign in with any user name and NOTIFY_ADMIN_TOKEN as the password, or send Authorization: Bearer <NOTIFY_ADMIN_TOKEN>"));
      return;
    }
    reply.header("WWW-Authenticate", 'Bearer realm="notify-smtp"');
    await reply.code(401).send(errorBody("unauthorized", "send Authorization: Bearer <NOTIFY_ADMIN_TOKEN>"));
  };
}

// One scheme, one run of spaces, one credential without white space, nothing after it.
const BEARER = /^bearer +(\S+) *$/i;
const BASIC = /^basic +([A-Za-z0-9+/]+={0,2}) *$/i;

/** The token a header presents in an accepted scheme, else null. */
export function presentedToken(header: string | undefined, schemes: readonly AuthScheme[]): string | null {
  if (!header) return null;
  if (schemes.includes("bearer")) {
    const bearer = BEARER.exec(header);
    if (bearer) return bearer[1]!;
  }
  if (schemes.includes("basic")) {
    const basic = BASIC.exec(header);
    if (!basic) return null;
    const decoded = Buffer.from(basic[1]!, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    return colon >= 0 ? decoded.slice(colon + 1) : null;
  }
  return null;
}

/** Hashing first makes the comparison length-independent. */
function digest(value: string): Buffer {
  return createHash("sha256").update(value).digest();
}
