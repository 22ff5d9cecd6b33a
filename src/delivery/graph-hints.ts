// What Microsoft Graph's sendMail answers mean, in one table next to the SMTP one (hints.ts):
// which answers are throttling, which are permanent, and what to do about each. First match
// wins; a status no rule names is transient when 5xx and permanent otherwise.
import type { FailureKind } from "../errors.ts";

export interface GraphRule {
  /** HTTP statuses this rule covers. */
  statuses: readonly number[];
  /** Tested against Graph's `error.code` (and its message); absent: any. */
  pattern?: RegExp;
  kind?: FailureKind;
  permanent: boolean;
  hint: string;
}

const MAIL_SEND =
  "the app may not send as this mailbox: give the app registration the Microsoft Graph application permission Mail.Send and grant admin consent in Entra ID; if an application access policy (New-ApplicationAccessPolicy) or RBAC for Applications (New-ManagementRoleAssignment -Role \"Application Mail.Send\") scopes the app, fromEmail must be inside that scope";

export const GRAPH_REPLIES: readonly GraphRule[] = [
  // Throttling: the mailbox backs off per Retry-After without consuming attempts (src/mailbox/throttle.ts).
  { statuses: [429], kind: "throttle", permanent: false, hint: "Microsoft Graph is throttling this mailbox (at most 4 concurrent requests per mailbox, MailboxConcurrency): its sends pause and resume by themselves" },
  { statuses: [503, 504], kind: "throttle", permanent: false, hint: "Microsoft Graph is overloaded or throttling (503/504): this mailbox's sends pause for Retry-After and resume by themselves" },
  { statuses: [400, 403], pattern: /ErrorQuotaExceeded|SubmissionQuotaExceeded|ErrorExceededMessageLimit/i, kind: "quota", permanent: false, hint: "the mailbox reached its sending limit (Exchange Online: 10,000 recipients a day): its emails wait for the next day's window" },
  { statuses: [403], pattern: /ErrorSendAsDenied/i, permanent: true, hint: MAIL_SEND },
  { statuses: [403], hint: MAIL_SEND, permanent: true },
  {
    statuses: [404], pattern: /MailboxNotEnabledForRESTAPI/i, permanent: true,
    hint: "fromEmail has no Exchange Online mailbox Graph can send from (MailboxNotEnabledForRESTAPI): it must be a licensed Exchange Online mailbox (or a shared mailbox), not an on-premises or unlicensed one",
  },
  {
    statuses: [404], permanent: true,
    hint: "Microsoft Graph knows no user fromEmail in this tenant (ErrorInvalidUser): check fromEmail, that the mailbox exists and is licensed, and that tokenUrl names the tenant it belongs to",
  },
  {
    statuses: [401], permanent: true, kind: "breaker",
    hint: "Microsoft Graph refused the token (a fresh one was tried too): the token must be for Microsoft Graph (scope https://graph.microsoft.com/.default) from the mailbox's own tenant (tokenUrl https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token)",
  },
  {
    statuses: [400], pattern: /ErrorMimeContent/i, permanent: true,
    hint: "Microsoft Graph could not read the message (ErrorMimeContent…): the body must be base64 MIME with Content-Type text/plain; this is a bug, please report it",
  },
  { statuses: [400], pattern: /ErrorInvalidRecipients|InvalidRecipients/i, permanent: true, hint: "Microsoft Graph refused the recipient address: check it; the other recipients are not affected" },
  { statuses: [413], permanent: true, hint: "the message is larger than Microsoft Graph accepts in one sendMail request (4 MB)" },
  { statuses: [400], permanent: true, hint: "Microsoft Graph refused the request as malformed: check fromEmail and the recipient" },
];

export function graphRule(status: number, code: string): GraphRule | undefined {
  return GRAPH_REPLIES.find((r) => r.statuses.includes(status) && (!r.pattern || r.pattern.test(code)));
}
