import type { StatusPageData } from "../jobs/contracts.ts";
import type { RenderedEmail } from "./index.ts";
import { asciiHref, subjectLine } from "./escape.ts";
import { renderHtml, renderText, type Layout, type Tone } from "./layout.ts";

const KIND: Record<StatusPageData["kind"], { label: string; tone: Tone }> = {
  incident: { label: "Incident", tone: "red" },
  maintenance: { label: "Scheduled maintenance", tone: "blue" },
  announcement: { label: "Announcement", tone: "grey" },
};

export function renderStatusPage(data: StatusPageData): RenderedEmail {
  const kind = KIND[data.kind];
  // An unsafe unsubscribe URL is dropped everywhere: a header we cannot trust is worse than none.
  // It goes into a header, so in ASCII (punycode host, percent-encoded path).
  const unsubscribeUrl = asciiHref(data.unsubscribeUrl);
  const layout: Layout = {
    heading: data.title,
    badge: kind,
    body: data.body,
    action: { label: "View status page", url: data.url },
    footer: `You are subscribed to updates from ${data.statusPageName}.`,
    unsubscribeUrl,
  };
  const headers: Record<string, string> = {};
  if (unsubscribeUrl) {
    headers["List-Unsubscribe"] = `<${unsubscribeUrl}>`;
    // RFC 8058 one-click unsubscribe is only defined for HTTPS URIs.
    if (unsubscribeUrl.slice(0, 8).toLowerCase() === "https://") {
      headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click";
    }
  }
  return {
    subject: subjectLine(`[${data.statusPageName}] ${kind.label}: ${data.title}`),
    html: renderHtml(layout),
    text: renderText(layout),
    headers,
  };
}
