// Actionable sentences for the SMTP replies people actually meet, with the provider knowledge
// in one table: which replies are about the mailbox (throttling, quota, breaker) rather than
// one message, and what to do about each. First match wins; `smtpHint` covers the rest.
import type { FailureKind, Stage } from "../errors.ts";

export interface HintContext {
  /** The login was SASL XOAUTH2. */
  oauth: boolean;
}

export interface ReplyRule {
  /** Tested against the whole reply text (code and enhanced status code included). */
  pattern: RegExp;
  /** Only replies with one of these codes. */
  codes?: readonly number[];
  /** Only at this stage. */
  stage?: Stage;
  kind?: FailureKind;
  /** Overrides "5xx permanent, 4xx transient". */
  permanent?: boolean;
  providerCode?: string;
  hint: string | ((context: HintContext) => string);
}

const MS_BASIC_AUTH_OFF =
  "SMTP AUTH is disabled for this tenant or mailbox (Basic authentication): switch this config to OAuth over SMTP (auth.type \"oauth\", application permission SMTP.SendAsApp) or to the Graph transport (transport \"graph\", Mail.Send). Microsoft turns Basic auth for SMTP AUTH off by default for existing tenants at the end of December 2026, so re-enabling it only buys time";
const MS_SMTP_AUTH_OFF =
  "SMTP AUTH is disabled for this tenant or mailbox: enable Authenticated SMTP for the mailbox in Microsoft 365 admin (Users > Mail > Manage email apps) and in the tenant's transport config, or switch to the Graph transport (transport \"graph\", Mail.Send)";

export const SMTP_REPLIES: readonly ReplyRule[] = [
  // Microsoft 365: SMTP AUTH (Basic) switched off for the tenant or the mailbox.
  {
    pattern: /\b5\.7\.139\b|\b5\.7\.30\b|SmtpClientAuthentication is disabled|basic auth(entication)? is disabled/i,
    kind: "breaker", permanent: true, providerCode: "basic_auth_disabled",
    hint: ({ oauth }) => (oauth ? MS_SMTP_AUTH_OFF : MS_BASIC_AUTH_OFF),
  },
  {
    pattern: /\b5\.7\.3\b/, stage: "auth", kind: "breaker", permanent: true,
    hint: ({ oauth }) => oauth
      ? "Microsoft 365 refused the sign-in: the app needs the SMTP.SendAsApp permission with admin consent, its service principal must be registered in Exchange Online (New-ServicePrincipal) and granted FullAccess/SendAs on the mailbox"
      : "Microsoft 365 refused the sign-in (5.7.3): check the username and password, that the mailbox is licensed and has Authenticated SMTP enabled; if the tenant turned Basic auth off, switch to OAuth over SMTP or the Graph transport",
  },
  {
    pattern: /\b5\.7\.57\b/, kind: "breaker", permanent: true,
    hint: "Microsoft 365 only relays for a signed-in mailbox (5.7.57 client not authenticated): add `auth` to the config and use smtp.office365.com on port 587 with STARTTLS",
  },
  {
    pattern: /\b5\.2\.252\b|SendAsDenied/i, kind: "breaker", permanent: true, providerCode: "SendAsDenied",
    hint: "the signed-in user may not send as fromEmail (SendAsDenied): grant it Send As on that mailbox (Exchange Online PowerShell: Add-RecipientPermission -Identity <fromEmail> -Trustee <user> -AccessRights SendAs), or set fromEmail to the signed-in mailbox",
  },
  {
    pattern: /\b5\.1\.8\b/, kind: "breaker", permanent: true, providerCode: "restricted_sender",
    hint: "Microsoft 365 blocked this mailbox from sending (5.1.8, a restricted sender, usually after it sent spam): release it under Restricted entities in the Microsoft Defender portal, and find out why it was blocked",
  },
  // Daily quotas: the mailbox's jobs wait for the next day's window.
  {
    pattern: /SubmissionQuotaExceeded/i, kind: "quota", permanent: false, providerCode: "SubmissionQuotaExceeded",
    hint: "the mailbox reached its daily sending limit (Exchange Online: 10,000 recipients a day): its emails wait for the next day's window; spread large sends over several mailboxes",
  },
  {
    pattern: /\b5\.4\.5\b|daily (user )?sending quota exceeded/i, codes: [550, 421, 452], kind: "quota", permanent: false, providerCode: "daily_quota",
    hint: "Google's daily sending limit for this user is reached (about 2,000 messages a day on Workspace): its emails wait for the next day's window",
  },
  // The sender's own mailbox is full (Microsoft 365 keeps a copy of SMTP mail in Sent Items).
  {
    pattern: /\b5\.2\.2\b/, codes: [554], kind: "breaker", permanent: true, providerCode: "mailbox_full",
    hint: "the sending mailbox is full (554 5.2.2): empty its Sent Items and Deleted Items, or raise its quota",
  },
  { pattern: /\b5\.2\.2\b/, codes: [552, 550], permanent: true, hint: "the recipient's mailbox is full: nothing to do on our side; the other recipients are not affected" },
  // Throttling: the mailbox backs off and its concurrency is lowered for a while (src/mailbox/throttle.ts).
  {
    pattern: /\b4\.3\.2\b/, codes: [432, 421, 451], kind: "throttle", permanent: false,
    hint: "the server refused another concurrent connection for this mailbox (4.3.2): its concurrency is lowered for a while; Microsoft 365 allows 3 per mailbox (limits.maxConnections)",
  },
  { pattern: /\b4\.7\.\d+\b|try again later|too many/i, codes: [421, 450], kind: "throttle", permanent: false, hint: "the server is throttling this mailbox: its sends pause and resume by themselves (lower limits.messagesPerMinute if it keeps happening)" },
  { pattern: /\b4\.7\.0\b/, codes: [454], kind: "throttle", permanent: false, hint: "the server is throttling this mailbox (too many logins or messages): its sends pause and resume by themselves" },
  // Recipients: one message's problem, never the mailbox's.
  { pattern: /\b5\.1\.\d+\b/, codes: [550, 551, 553, 554, 501], permanent: true, hint: "the server refused the recipient address (5.1.x: no such user, or a typo): check it; the other recipients are not affected" },
];

export function replyRule(code: number, text: string, stage: Stage): ReplyRule | undefined {
  return SMTP_REPLIES.find((r) => (!r.codes || r.codes.includes(code)) && (!r.stage || r.stage === stage) && r.pattern.test(text));
}

export function ruleHint(rule: ReplyRule, context: HintContext): string {
  return typeof rule.hint === "string" ? rule.hint : rule.hint(context);
}

export function smtpHint(code: number | undefined, text: string, stage: Stage, oauth = false): string | undefined {
  const rule = code === undefined ? undefined : replyRule(code, text, stage);
  if (rule) return ruleHint(rule, { oauth });
  if (/5\.7\.8|BadCredentials|Username and Password not accepted/i.test(text)) {
    return "the server rejected the credentials: check the username and password (Google needs an app password or OAuth)";
  }
  if (stage === "auth" && oauth) {
    if (code === 504 || /mechanism|No supported authentication|Unrecognized authentication/i.test(text)) return "the server does not offer XOAUTH2: this server needs password authentication, or a different host";
    return "the server refused the OAuth token (a fresh one was tried too): for Microsoft 365 grant SMTP.SendAsApp with admin consent, register the app's service principal in Exchange Online and give it mailbox permission; for Google, grant domain-wide delegation for https://mail.google.com/ and check that the user exists";
  }
  if (stage === "auth") {
    if (code === 535 || code === 534) return "authentication was rejected: check the username and password, or the OAuth app's permissions";
    if (code === 504 || /mechanism|No supported authentication|Unrecognized authentication/i.test(text)) return "the server does not offer an authentication mechanism this config can use";
    return "authentication failed";
  }
  if (code === 550 || code === 553 || code === 551) return "the server refused the recipient or sender address: check `fromEmail` is allowed to send and the recipient exists";
  if (code === 552) return "the message is larger than the server accepts";
  if (code === 554) return "the server refused the transaction (often a spam or policy rejection)";
  if (code !== undefined && code >= 400 && code < 500) return "the server asked us to try again later; the job will retry";
  return undefined;
}
