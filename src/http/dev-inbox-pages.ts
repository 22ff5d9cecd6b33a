// The dev inbox's HTML. Every value from a received message is escaped here; the message's own
// HTML is never inlined (it is served by its own route into a sandboxed iframe).
import type { InboxMessage } from "../dev-inbox/inbox.ts";

export const INBOX_SCRIPT_PATH = "/dev/inbox/assets/inbox.js";

const STYLE = `
body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 64rem; padding: 0 1rem; color: #222; }
h1 { font-size: 1.3rem; } h2 { font-size: 1.05rem; margin-top: 1.6rem; } a { color: #0b5cad; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid #ddd; vertical-align: top; }
th { background: #f5f5f5; } td.time { white-space: nowrap; color: #555; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; } dt { font-weight: 600; }
iframe { width: 100%; height: 32rem; border: 1px solid #ccc; }
pre { white-space: pre-wrap; word-break: break-word; background: #f7f7f7; padding: 1rem; border: 1px solid #ddd; }
.bar { display: flex; gap: .75rem; align-items: center; flex-wrap: wrap; margin: 1rem 0; }
.bar form { display: flex; gap: .4rem; margin: 0; } .bar input[type=search] { min-width: 18rem; padding: .3rem .5rem; }
.empty, .muted { color: #666; }
table.headers td:first-child { white-space: nowrap; font-weight: 600; width: 1%; }
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
<title>${escapeHtml(title)}</title><style>${STYLE}</style><script src="${INBOX_SCRIPT_PATH}" defer></script></head>
<body>${body}</body></html>`;
}

/** A time the script turns into the reader's local, relative form; the ISO text is the fallback. */
function time(iso: string, full = false): string {
  return `<time datetime="${escapeHtml(iso)}"${full ? ' data-full="true"' : ""}>${escapeHtml(iso)}</time>`;
}

const messageHref = (m: InboxMessage, suffix = "") => `/dev/inbox/${encodeURIComponent(m.id)}${suffix}`;

/** Case-insensitive match on any recipient or the subject; an empty query matches everything. */
export function matches(m: InboxMessage, query: string): boolean {
  const q = query.trim().toLowerCase();
  if (!q) return true;
  return m.subject.toLowerCase().includes(q) || m.to.some((to) => to.toLowerCase().includes(q));
}

export function listPage(messages: InboxMessage[], query: string, total: number): string {
  const rows = messages
    .map((m) => `<tr><td class="time">${time(m.receivedAt)}</td>
<td>${escapeHtml(m.from)}</td><td>${escapeHtml(m.to.join(", "))}</td>
<td><a href="${escapeHtml(messageHref(m))}">${escapeHtml(m.subject || "(no subject)")}</a></td></tr>`)
    .join("\n");
  const empty = total === 0
    ? "No messages yet. Anything sent to the dev inbox's SMTP server shows up here (this page refreshes itself)."
    : `No message matches “${escapeHtml(query)}”.`;
  const table = messages.length
    ? `<table><thead><tr><th>Received</th><th>From</th><th>To</th><th>Subject</th></tr></thead><tbody>${rows}</tbody></table>`
    : `<p class="empty">${empty}</p>`;
  const latest = messages[0]?.id ?? "";
  const shown = query ? `${messages.length} of ${total}` : `${total}`;
  return page(
    "Dev inbox",
    `<h1>Dev inbox</h1>
<div class="bar">
<form method="get" action="/dev/inbox" role="search"><input type="search" name="q" value="${escapeHtml(query)}" placeholder="Recipient or subject" aria-label="Search by recipient or subject"><button type="submit">Search</button>${query ? ' <a href="/dev/inbox">Show all</a>' : ""}</form>
<form method="post" action="/dev/inbox/clear"><button type="submit"${total ? "" : " disabled"}>Clear inbox</button></form>
<span class="muted">${shown} message${total === 1 && !query ? "" : "s"} · <a href="/dev/inbox">Refresh</a></span>
</div>
<div data-inbox-latest="${escapeHtml(latest)}" data-inbox-count="${messages.length}" data-inbox-query="${escapeHtml(query)}">${table}</div>`,
  );
}

export function messagePage(m: InboxMessage): string {
  const date = m.headers["date"];
  const htmlPart = m.html === null
    ? `<p class="empty">No HTML part.</p>`
    : `<iframe sandbox="" src="${escapeHtml(messageHref(m, "/html"))}" title="HTML part"></iframe>`;
  const textPart = m.text === null ? `<p class="empty">No text part.</p>` : `<pre>${escapeHtml(m.text)}</pre>`;
  const headers = Object.entries(m.headers)
    .map(([name, value]) => `<tr><td>${escapeHtml(name)}</td><td>${escapeHtml(value)}</td></tr>`)
    .join("\n");
  return page(
    m.subject || "(no subject)",
    `<p><a href="/dev/inbox">&larr; Dev inbox</a></p>
<h1>${escapeHtml(m.subject || "(no subject)")}</h1>
<dl><dt>From</dt><dd>${escapeHtml(m.from)}</dd><dt>To</dt><dd>${escapeHtml(m.to.join(", "))}</dd>
<dt>Subject</dt><dd>${escapeHtml(m.subject)}</dd><dt>Received</dt><dd>${time(m.receivedAt, true)}</dd>
${date ? `<dt>Date header</dt><dd>${escapeHtml(date)}</dd>` : ""}</dl>
<p><a href="${escapeHtml(messageHref(m, "/raw"))}">Raw source</a> (${m.raw.length.toLocaleString("en")} bytes)</p>
<h2>HTML</h2>${htmlPart}<h2>Text</h2>${textPart}
<h2>Headers</h2><table class="headers"><tbody>${headers}</tbody></table>`,
  );
}
