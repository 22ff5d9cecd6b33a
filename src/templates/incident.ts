import type { IncidentData } from "../jobs/contracts.ts";
import type { RenderedEmail } from "./index.ts";
import { subjectLine } from "./escape.ts";
import { renderHtml, renderText, STATE_LABEL, STATE_TONE, type Layout } from "./layout.ts";

export function renderIncident(data: IncidentData): RenderedEmail {
  const state = STATE_LABEL[data.state];
  const layout: Layout = {
    heading: data.title,
    badge: { label: state, tone: STATE_TONE[data.state] },
    facts: [
      ["Incident", `#${data.incidentId}`],
      ["Severity", data.severity],
    ],
    body: data.description,
    list: data.monitors ? { label: "Affected monitors", items: data.monitors } : undefined,
    action: { label: "View incident", url: data.url },
    footer: "You are receiving this because you are on this project's incident notification list.",
  };
  return {
    subject: subjectLine(`[Incident #${data.incidentId}] ${state}: ${data.title}`),
    html: renderHtml(layout),
    text: renderText(layout),
    headers: {},
  };
}
