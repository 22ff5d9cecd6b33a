// Pages for the dev inbox. Mounted without auth and only outside production, so every value
// from a received message is escaped, and the message's own HTML is only ever served from a
// separate route under a sandboxing CSP, inside a sandboxed iframe.
import type { FastifyInstance, FastifyReply } from "fastify";
import type { DevInbox, InboxMessage } from "../dev-inbox/inbox.ts";

export interface DevInboxRoutesOptions {
  inbox: DevInbox;
}

const PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-src 'self'; img-src data:";
const MESSAGE_HTML_CSP = "sandbox; default-src 'none'; img-src data: https:; style-src 'unsafe-inline'";

const STYLE = `
body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; padding: 0 1rem; color: #222; }
h1 { font-size: 1.3rem; } a { color: #0b5cad; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid #ddd; vertical-align: top; }
th { background: #f5f5f5; } td.time { white-space: nowrap; color: #555; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; } dt { font-weight: 600; }
iframe { width: 100%; height: 32rem; border: 1px solid #ccc; }
pre { white-space: pre-wrap; background: #f7f7f7; padding: 1rem; border: 1px solid #ddd; }
.empty { color: #666; }
`;

export function escapeHtml(value: string): string {
  return value
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&#39;");
}

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title><style>${STYLE}</style></head>
<body>${body}</body></html>`;
}

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

function listPage(messages: InboxMessage[]): string {
  const rows = messages
    .map((m) => {
      const href = `/dev/inbox/${encodeURIComponent(m.id)}`;
      return `<tr><td class="time"><time datetime="${escapeHtml(m.receivedAt)}">${escapeHtml(m.receivedAt)}</time></td>
<td>${escapeHtml(m.from)}</td><td>${escapeHtml(m.to.join(", "))}</td>
<td><a href="${escapeHtml(href)}">${escapeHtml(m.subject || "(no subject)")}</a></td></tr>`;
    })
    .join("\n");
  const table = messages.length
    ? `<table><thead><tr><th>Received</th><th>From</th><th>To</th><th>Subject</th></tr></thead><tbody>${rows}</tbody></table>`
    : `<p class="empty">No messages yet. Anything sent to the dev inbox's SMTP server shows up here.</p>`;
  return page("Dev inbox", `<h1>Dev inbox</h1><p><a href="/dev/inbox">Refresh</a></p>${table}`);
}

function messagePage(m: InboxMessage): string {
  const date = m.headers["date"] ?? m.receivedAt;
  const htmlSrc = `/dev/inbox/${encodeURIComponent(m.id)}/html`;
  const htmlPart = m.html === null
    ? `<p class="empty">No HTML part.</p>`
    : `<iframe sandbox="" src="${escapeHtml(htmlSrc)}" title="HTML part"></iframe>`;
  const textPart = m.text === null ? `<p class="empty">No text part.</p>` : `<pre>${escapeHtml(m.text)}</pre>`;
  return page(
    m.subject || "(no subject)",
    `<p><a href="/dev/inbox">&larr; Dev inbox</a></p>
<h1>${escapeHtml(m.subject || "(no subject)")}</h1>
<dl><dt>From</dt><dd>${escapeHtml(m.from)}</dd><dt>To</dt><dd>${escapeHtml(m.to.join(", "))}</dd>
<dt>Subject</dt><dd>${escapeHtml(m.subject)}</dd><dt>Date</dt><dd>${escapeHtml(date)}</dd></dl>
<h2>HTML</h2>${htmlPart}<h2>Text</h2>${textPart}`,
  );
}

export async function devInboxRoutes(app: FastifyInstance, opts: DevInboxRoutesOptions): Promise<void> {
  const { inbox } = opts;

  app.get<{ Querystring: { format?: string } }>("/dev/inbox", async (request, reply) => {
    const messages = inbox.list();
    if (wantsJson(request.headers.accept, request.query.format)) {
      return reply.send({ messages: messages.map(summary) });
    }
    return sendPage(reply, listPage(messages));
  });

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
}
