// nodemailer / socket errors → DeliveryError. The SMTP reply code decides transient (4xx)
// versus permanent (5xx); socket trouble is transient; TLS and DNS trouble is configuration.
import { DeliveryError, type Stage } from "../errors.ts";
import { replyRule, ruleHint, smtpHint } from "./hints.ts";

/** The fields nodemailer sets on its errors. */
interface SmtpLikeError extends Error {
  code?: string;
  responseCode?: number;
  response?: string;
  command?: string;
  /** nodemailer replaces a system error's code (ENOTFOUND, cert errors…) with its own and keeps the original here. */
  originalCode?: string;
  cause?: unknown;
}

const TLS_CODES = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME|ERR_SSL|ERR_TLS|EPROTO|HOSTNAME_MISMATCH/;

export interface ClassifyContext {
  /** The login was SASL XOAUTH2 (changes the hints for 535). */
  oauth?: boolean;
}

export function classifySmtpError(error: unknown, context: ClassifyContext = {}): DeliveryError {
  if (error instanceof DeliveryError) return error;
  const err = (error instanceof Error ? error : new Error(String(error))) as SmtpLikeError;
  const causeCode = err.originalCode ?? (err.cause as { code?: string } | undefined)?.code;
  const code = err.code ?? "EUNKNOWN";
  const text = oneLine(err.response ?? err.message);

  // STARTTLS refused or not offered while required, or the handshake failed.
  if (code === "ETLS" || err.command === "STARTTLS") {
    const detail = err.response ? `${oneLine(err.message)} (${text})` : text;
    return new DeliveryError(detail, { stage: "tls", permanent: true, code: causeCode ?? code, hint: tlsHint(`${err.message} ${err.response ?? ""}`, causeCode), kind: certificateKind(err, causeCode) });
  }
  if (typeof err.responseCode === "number" && err.responseCode >= 400) {
    const stage: Stage = code === "EAUTH" || err.command === "AUTH PLAIN" || err.command?.startsWith("AUTH") ? "auth" : "send";
    // Provider knowledge (hints.ts): throttling, quota and mailbox-wide failures, with a hint each.
    const rule = replyRule(err.responseCode, text, stage);
    const permanent = rule?.permanent ?? err.responseCode >= 500;
    // "[send] 550: 5.1.1 …", not "[send] 550: 550 5.1.1 …": the code is already in front.
    return new DeliveryError(text.replace(/^\d{3}[ -]/, ""), {
      stage, permanent, code: String(err.responseCode), smtpCode: err.responseCode, providerCode: rule?.providerCode,
      hint: rule ? ruleHint(rule, { oauth: Boolean(context.oauth) }) : smtpHint(err.responseCode, text, stage, context.oauth),
      // A refused login no retry can cure (the XOAUTH2 one was retried with a fresh token) opens the breaker.
      kind: rule ? rule.kind : stage === "auth" && permanent ? "breaker" : undefined,
    });
  }
  if (TLS_CODES.test(causeCode ?? "") || TLS_CODES.test(err.message) || /certificate|self.signed|STARTTLS|\bTLS\b|\bSSL\b/i.test(err.message)) {
    return new DeliveryError(text, { stage: "tls", permanent: true, code: causeCode ?? code, hint: tlsHint(err.message, causeCode), kind: certificateKind(err, causeCode) });
  }
  if (code === "EAUTH") {
    // e.g. "Authentication credentials invalid" without a reply code, or no common mechanism.
    return new DeliveryError(text, { stage: "auth", permanent: true, code, hint: smtpHint(undefined, text, "auth", context.oauth), kind: "breaker" });
  }
  if (code === "EPRIVATE" || causeCode === "EPRIVATE") {
    return new DeliveryError(text, { stage: "connect", permanent: true, code: "EPRIVATE", hint: "the SMTP host resolves to a private or loopback address; set NOTIFY_ALLOW_PRIVATE_TARGETS=true if that is intended" });
  }
  if (code === "EDNS" || code === "ENOTFOUND" || causeCode === "ENOTFOUND") {
    const notFound = code === "ENOTFOUND" || causeCode === "ENOTFOUND" || /ENOTFOUND/.test(err.message);
    return new DeliveryError(text, { stage: "connect", permanent: notFound, code: causeCode ?? code, hint: "the SMTP host name does not resolve: check `host` for typos" });
  }
  if (code === "EENVELOPE") {
    return new DeliveryError(text, { stage: "send", permanent: true, code, hint: "the sender or recipient address was refused" });
  }
  // Connection refused / reset / timeouts: the server may be back soon.
  const socketCode = /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|EHOSTUNREACH|ENETUNREACH/.exec(`${causeCode ?? ""} ${err.message}`)?.[0];
  return new DeliveryError(text, {
    stage: "connect", permanent: false, code: socketCode ?? code,
    hint: socketCode === "ECONNREFUSED"
      ? "nothing accepts connections on that host and port: check `host`, `port` and firewalls"
      : /ETIMEDOUT|timeout/i.test(`${socketCode ?? code} ${err.message}`)
        ? "the server did not answer in time: check `host` and `port` (a port that expects TLS from the first byte must be 465), and that outbound SMTP is not blocked by a firewall"
        : undefined,
  });
}

/** An untrusted or mismatched certificate stays so until someone fixes it: a breaker failure. */
function certificateKind(err: SmtpLikeError, causeCode: string | undefined): "breaker" | undefined {
  return /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME|HOSTNAME_MISMATCH|certificate|self.signed/i.test(`${causeCode ?? ""} ${err.message} ${err.response ?? ""}`) ? "breaker" : undefined;
}

function tlsHint(message: string, causeCode: string | undefined): string {
  if (/STARTTLS/i.test(message)) return "the server does not offer STARTTLS; use port 465 with implicit TLS, or a server that supports encryption";
  if (/SELF_SIGNED|UNABLE_TO_VERIFY|unable to verify|self.signed/i.test(`${causeCode} ${message}`)) {
    return "the server's certificate is not trusted: add its CA with NODE_EXTRA_CA_CERTS";
  }
  if (/ALTNAME|HOSTNAME|does not match|not in the cert/i.test(`${causeCode} ${message}`)) {
    return "the certificate does not name this host: use the host name the certificate was issued for";
  }
  return "the TLS handshake failed: check the port (465 implicit TLS, 587 STARTTLS) and the server's certificate";
}

/** Server replies can span lines; a job's reason is one line. */
function oneLine(s: string): string {
  return s.replace(/\s*[\r\n]+\s*/g, " ").trim().slice(0, 500);
}
