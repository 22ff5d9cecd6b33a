// The message `POST …/smtp-config/test` sends: plain, so nothing in it can trip a filter.
import type { RenderedEmail } from "./index.ts";
import { escapeHtml } from "./escape.ts";

export function renderTestEmail(projectId: string, host: string, at: Date): RenderedEmail {
  const when = at.toISOString();
  const text = `This is a test email from notify-smtp for project ${projectId}.\n\nIt was sent through ${host} at ${when}. If you can read it, the SMTP configuration works.\n`;
  const html = `<p>This is a test email from notify-smtp for project <strong>${escapeHtml(projectId)}</strong>.</p><p>It was sent through ${escapeHtml(host)} at ${when}. If you can read it, the SMTP configuration works.</p>`;
  return { subject: `notify-smtp test email (${projectId})`, html, text, headers: {} };
}
