// Actionable sentences for the SMTP replies people actually meet.
import type { Stage } from "../errors.ts";

export function smtpHint(code: number | undefined, text: string, stage: Stage, oauth = false): string | undefined {
  if (/5\.7\.139/.test(text) || /SmtpClientAuthentication is disabled/i.test(text)) {
    return "SMTP AUTH is disabled for this tenant or mailbox: enable Authenticated SMTP for the mailbox in Microsoft 365 admin (Mail > Manage email apps)";
  }
  if (/5\.7\.3/.test(text) && stage === "auth") {
    return "Microsoft 365 refused the sign-in: the app needs the SMTP.SendAsApp permission with admin consent, its service principal must be registered in Exchange Online (New-ServicePrincipal) and granted FullAccess/SendAs on the mailbox";
  }
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
