// Email templates: job data in, subject + HTML + text out. Plain functions with template
// literals: nothing is compiled per call, which matters at thousands of renders a second.
import type { EmailJobData } from "../jobs/contracts.ts";
import { renderAlert } from "./alert.ts";
import { renderIncident } from "./incident.ts";
import { renderStatusPage } from "./status-page.ts";

export interface RenderedEmail {
  /** Single line: control characters (CR/LF included) are replaced. */
  subject: string;
  html: string;
  text: string;
  /** Extra message headers, e.g. List-Unsubscribe; empty when there are none. */
  headers: Record<string, string>;
}

export function renderEmail(job: EmailJobData): RenderedEmail {
  switch (job.type) {
    case "incident":
      return renderIncident(job.data);
    case "alert":
      return renderAlert(job.data);
    case "status-page":
      return renderStatusPage(job.data);
    default: {
      const unknown: never = job;
      throw new Error(`unknown email type: ${String((unknown as { type: unknown }).type)}`);
    }
  }
}

export { renderAlert, renderIncident, renderStatusPage };
export { escapeHtml, safeHref } from "./escape.ts";
