import type { AlertData } from "../jobs/contracts.ts";
import type { RenderedEmail } from "./index.ts";
import { subjectLine } from "./escape.ts";
import { renderHtml, renderText, STATE_LABEL, STATE_TONE, type Layout } from "./layout.ts";

export function renderAlert(data: AlertData): RenderedEmail {
  const state = STATE_LABEL[data.state];
  const layout: Layout = {
    heading: data.title,
    badge: { label: state, tone: STATE_TONE[data.state] },
    facts: [
      ["Alert", data.alertId],
      ["Severity", data.severity],
    ],
    body: data.description,
    action: { label: "View alert", url: data.url },
    footer: "You are receiving this because you are on this project's alert notification list.",
  };
  return {
    // Severity goes last so the inbox list still shows the state and title when truncated.
    subject: subjectLine(`[Alert] ${state}: ${data.title} (${data.severity})`),
    html: renderHtml(layout),
    text: renderText(layout),
    headers: {},
  };
}
