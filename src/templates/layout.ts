// The one shared email layout. Callers pass raw user data; this module does all the escaping,
// so no template can forget it. Markup is table-based with inline styles because many mail
// clients ignore <style> blocks, and it references no external assets (nothing to block or track).
import type { IncidentState } from "../jobs/contracts.ts";
import { escapeHtml, escapeMultiline, safeHref } from "./escape.ts";

const TONES = {
  red: "#b42318",
  amber: "#b54708",
  green: "#067647",
  blue: "#175cd3",
  grey: "#475467",
} as const;

/** Badge colours come from this fixed palette, never from data, so they need no escaping. */
export type Tone = keyof typeof TONES;

// Incident and alert mail share one lifecycle, so they share its wording and colours.
export const STATE_LABEL: Record<IncidentState, string> = {
  created: "New",
  acknowledged: "Acknowledged",
  resolved: "Resolved",
};
export const STATE_TONE: Record<IncidentState, Tone> = {
  created: "red",
  acknowledged: "amber",
  resolved: "green",
};

export interface Layout {
  heading: string;
  badge: { label: string; tone: Tone };
  /** Short "Label: value" lines under the heading. */
  facts?: ReadonlyArray<readonly [label: string, value: string]>;
  /** Free text; line breaks are preserved. */
  body?: string;
  list?: { label: string; items: readonly string[] };
  /** Dropped when the URL is missing or not http(s). */
  action?: { label: string; url: string | undefined };
  footer: string;
  /** Already vetted by safeHref. */
  unsubscribeUrl?: string;
}

const FONT = "font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;";

// Block elements end their line: short lines keep the HTML part 7bit on the wire (no
// transfer encoding), which is both smaller and cheaper to compose.
export function renderHtml(l: Layout): string {
  let main =
    `<span style="display:inline-block;padding:2px 10px;border-radius:12px;background:${TONES[l.badge.tone]};` +
    `color:#ffffff;font-size:12px;font-weight:bold;">${escapeHtml(l.badge.label)}</span>\n` +
    `<h1 style="margin:12px 0 16px;font-size:20px;line-height:1.3;">${escapeHtml(l.heading)}</h1>\n`;
  if (l.facts) {
    for (const [label, value] of l.facts) {
      main += `<p style="margin:0 0 4px;"><strong>${escapeHtml(label)}:</strong> ${escapeHtml(value)}</p>\n`;
    }
  }
  if (l.body) main += `<p style="margin:16px 0;">${escapeMultiline(l.body)}</p>\n`;
  if (l.list && l.list.items.length > 0) {
    main += `<p style="margin:16px 0 4px;"><strong>${escapeHtml(l.list.label)}:</strong></p><ul style="margin:0;padding-left:20px;">\n`;
    for (const item of l.list.items) main += `<li>${escapeHtml(item)}</li>\n`;
    main += "</ul>\n";
  }
  const href = safeHref(l.action?.url);
  if (l.action && href) {
    main +=
      `<table role="presentation" cellpadding="0" cellspacing="0" style="margin:20px 0 0;"><tr>` +
      `<td style="border-radius:6px;background:${TONES.blue};"><a href="${escapeHtml(href)}" ` +
      `style="display:inline-block;padding:10px 18px;color:#ffffff;text-decoration:none;font-weight:bold;">` +
      `${escapeHtml(l.action.label)}</a></td></tr></table>\n`;
  }
  let footer = escapeHtml(l.footer);
  if (l.unsubscribeUrl) {
    footer += ` <a href="${escapeHtml(l.unsubscribeUrl)}" style="color:#667085;">Unsubscribe</a>`;
  }
  return (
    `<!DOCTYPE html><html><head><meta charset="utf-8">` +
    `<meta name="viewport" content="width=device-width,initial-scale=1"><title>${escapeHtml(l.heading)}</title></head>\n` +
    `<body style="margin:0;padding:0;background:#f4f5f7;">\n` +
    `<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="background:#f4f5f7;"><tr>` +
    `<td align="center" style="padding:24px 12px;">\n` +
    `<table role="presentation" width="100%" cellpadding="0" cellspacing="0" ` +
    `style="max-width:600px;background:#ffffff;border:1px solid #e4e7ec;border-radius:8px;">\n` +
    `<tr><td style="padding:24px;${FONT}color:#101828;font-size:15px;line-height:1.5;">\n${main}</td></tr>\n` +
    `<tr><td style="padding:16px 24px;border-top:1px solid #e4e7ec;${FONT}font-size:12px;color:#667085;">${footer}</td></tr>\n` +
    `</table></td></tr></table></body></html>\n`
  );
}

/** The text/plain part: same content, no markup and no escaping. */
export function renderText(l: Layout): string {
  let out = `[${l.badge.label}] ${l.heading}\n`;
  if (l.facts) for (const [label, value] of l.facts) out += `${label}: ${value}\n`;
  if (l.body) out += `\n${l.body}\n`;
  if (l.list && l.list.items.length > 0) {
    out += `\n${l.list.label}:\n`;
    for (const item of l.list.items) out += `- ${item}\n`;
  }
  const href = safeHref(l.action?.url);
  if (l.action && href) out += `\n${l.action.label}: ${href}\n`;
  out += `\n--\n${l.footer}\n`;
  if (l.unsubscribeUrl) out += `Unsubscribe: ${l.unsubscribeUrl}\n`;
  return out;
}
