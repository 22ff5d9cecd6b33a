// Routes of the dev inbox. Mounted without auth and only outside production, so every value
// from a received message is escaped (dev-inbox-pages.ts), the message's own HTML and its raw
// source are only ever served from routes of their own under a sandboxing CSP (the HTML inside
// a sandboxed iframe), and the pages' one script is a same-origin file, never inline.
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { DevInbox, InboxMessage } from "../dev-inbox/inbox.ts";
import { INBOX_SCRIPT_PATH, listPage, matches, messagePage } from "./dev-inbox-pages.ts";
import { INBOX_SCRIPT } from "./dev-inbox-script.ts";

export { escapeHtml } from "./dev-inbox-pages.ts";

export interface DevInboxRoutesOptions {
  inbox: DevInbox;
}

const PAGE_CSP =
  "default-src 'none'; style-src 'unsafe-inline'; script-src 'self'; connect-src 'self'; frame-src 'self'; img-src data:; " +
  "form-action 'self'; base-uri 'none'; frame-ancestors 'none'";
const MESSAGE_HTML_CSP = "sandbox; default-src 'none'; img-src data: https:; style-src 'unsafe-inline'";
const RAW_CSP = "sandbox; default-src 'none'";
const MAX_QUERY = 200;

function sendPage(reply: FastifyReply, html: string): FastifyReply {
  return reply
    .header("Content-Security-Policy", PAGE_CSP)
    .header("X-Content-Type-Options", "nosniff")
    .type("text/html; charset=utf-8")
    .send(html);
}

/** Quality the Accept header gives a media type; exact entries beat `type/*` beat `*\/*`. */
function quality(accept: string, mediaType: string): number {
  const [type] = mediaType.split("/");
  let best = { specificity: -1, q: 0 };
  for (const part of accept.split(",")) {
    const [range = "", ...params] = part.trim().toLowerCase().split(";");
    const specificity = range === mediaType ? 2 : range === `${type}/*` ? 1 : range === "*/*" ? 0 : -1;
    if (specificity <= best.specificity) continue;
    const qParam = params.map((p) => p.trim()).find((p) => p.startsWith("q="));
    const q = qParam ? Number(qParam.slice(2)) : 1;
    best = { specificity, q: Number.isFinite(q) ? q : 0 };
  }
  return best.q;
}

/** Browsers and `*\/*` get HTML; JSON only when asked for more strongly than HTML. */
function wantsJson(accept: string | undefined, format: string | undefined): boolean {
  if (format !== undefined) return format === "json";
  if (!accept) return false;
  return quality(accept, "application/json") > quality(accept, "text/html");
}

function notFound(reply: FastifyReply, id: string): FastifyReply {
  return reply.code(404).send({ error: { code: "not_found", message: `No message with id ${id} in the dev inbox` } });
}

function summary(m: InboxMessage) {
  return { id: m.id, receivedAt: m.receivedAt, from: m.from, to: m.to, subject: m.subject };
}

/**
 * The inbox has no login, so another site's page must not clear it through the reader's
 * browser: refuse what the browser marks cross-site, and any foreign Origin.
 */
function crossSite(request: FastifyRequest): boolean {
  const site = request.headers["sec-fetch-site"];
  if (site !== undefined && site !== "same-origin" && site !== "none") return true;
  const origin = request.headers.origin;
  if (origin === undefined) return false;
  try {
    return new URL(origin).host !== request.headers.host;
  } catch {
    return true;
  }
}

export async function devInboxRoutes(app: FastifyInstance, opts: DevInboxRoutesOptions): Promise<void> {
  const { inbox } = opts;
  // The Clear button posts an empty HTML form; nothing in it is read. (Scoped to this plugin.)
  app.addContentTypeParser("application/x-www-form-urlencoded", { parseAs: "string", bodyLimit: 1024 }, (_request, _body, done) => done(null, {}));

  app.get<{ Querystring: { format?: string; q?: string } }>("/dev/inbox", async (request, reply) => {
    const all = inbox.list();
    const query = typeof request.query.q === "string" ? request.query.q.slice(0, MAX_QUERY) : "";
    const messages = all.filter((m) => matches(m, query));
    if (wantsJson(request.headers.accept, request.query.format)) {
      return reply.header("Cache-Control", "no-store").send({ messages: messages.map(summary) });
    }
    return sendPage(reply, listPage(messages, query, all.length));
  });

  app.get(INBOX_SCRIPT_PATH, async (_request, reply) =>
    reply.header("X-Content-Type-Options", "nosniff").type("text/javascript; charset=utf-8").send(INBOX_SCRIPT),
  );

  const clear = (request: FastifyRequest, reply: FastifyReply, done: () => FastifyReply): FastifyReply => {
    if (crossSite(request)) {
      return reply.code(403).send({ error: { code: "cross_site", message: "the dev inbox can only be cleared from its own page" } });
    }
    inbox.clear();
    request.log.info("dev inbox cleared");
    return done();
  };
  // The page's button: back to the (now empty) list.
  app.post("/dev/inbox/clear", async (request, reply) => clear(request, reply, () => reply.code(303).header("Location", "/dev/inbox").send()));
  // For scripts and tests.
  app.delete("/dev/inbox", async (request, reply) => clear(request, reply, () => reply.code(204).send()));

  app.get<{ Params: { id: string } }>("/dev/inbox/:id", async (request, reply) => {
    const message = inbox.get(request.params.id);
    if (!message) return notFound(reply, request.params.id);
    return sendPage(reply, messagePage(message));
  });

  app.get<{ Params: { id: string } }>("/dev/inbox/:id/html", async (request, reply) => {
    const message = inbox.get(request.params.id);
    if (!message) return notFound(reply, request.params.id);
    return reply
      .header("Content-Security-Policy", MESSAGE_HTML_CSP)
      .header("X-Content-Type-Options", "nosniff")
      // Remote images in the mail must not learn which page embedded them.
      .header("Referrer-Policy", "no-referrer")
      .type("text/html; charset=utf-8")
      .send(message.html ?? "");
  });

  // The message as received, as text: a browser shows it, never renders it.
  app.get<{ Params: { id: string } }>("/dev/inbox/:id/raw", async (request, reply) => {
    const message = inbox.get(request.params.id);
    if (!message) return notFound(reply, request.params.id);
    return reply
      .header("Content-Security-Policy", RAW_CSP)
      .header("X-Content-Type-Options", "nosniff")
      .type("text/plain; charset=utf-8")
      .send(message.raw);
  });
}
