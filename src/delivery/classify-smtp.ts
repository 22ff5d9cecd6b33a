// nodemailer / socket errors → DeliveryError. The SMTP reply code decides transient (4xx)
// versus permanent (5xx); socket trouble is transient; TLS and DNS trouble is configuration.
// The server's reply (nodemailer accepts up to maxResponseSize, and repeats it in the error's
// message) is cut and cleaned first, with our secrets masked; every regex below runs on at
// most 1 KB, so a long reply costs linear time, and the worker, test-send, logs and the board
// all get the same clean text.
import { DeliveryError, type Stage } from "../errors.ts";
import { cleanPeerText } from "../net/peer-text.ts";
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
  /** Our secrets in every form the session sent them (see smtp-secrets.ts): masked in the text. */
  secrets?: readonly (string | undefined)[];
  /**
   * The step that was running, when the caller knows it (test-send does): a connection dropped
   * or timed out during AUTH or the send is reported there rather than at "connect".
   */
  stage?: Stage;
}

export function classifySmtpError(error: unknown, context: ClassifyContext = {}): DeliveryError {
  if (error instanceof DeliveryError) return error;
  const err = (error instanceof Error ? error : new Error(String(error))) as SmtpLikeError;
  const clean = (value: unknown) => cleanPeerText(value, { secrets: context.secrets });
  // Codes are ours or the system's, but a peer's text could reach one: keep them short and clean too.
  const causeCode = shortCode(err.originalCode ?? (err.cause as { code?: string } | undefined)?.code);
  const code = shortCode(err.code) ?? "EUNKNOWN";
  const message = clean(err.message);
  const response = err.response === undefined ? undefined : clean(err.response);
  const text = response ?? message;

  // STARTTLS refused or not offered while required, or the handshake failed.
  if (code === "ETLS" || err.command === "STARTTLS") {
    const detail = response ? clean(`${message} (${response})`) : text;
    return new DeliveryError(detail, { stage: "tls", permanent: true, code: causeCode ?? code, hint: tlsHint(`${message} ${response ?? ""}`, causeCode), kind: certificateKind(err, causeCode) });
  }
  if (typeof err.responseCode === "number" && err.responseCode >= 400) {
    const stage: Stage = code === "EAUTH" || err.command === "AUTH PLAIN" || err.command?.startsWith("AUTH") ? "auth" : "send";
    // Provider knowledge (hints.ts): throttling, quota and mailbox-wide failures, with a hint each.
    const rule = replyRule(err.responseCode, text, stage);
    const permanent = rule?.permanent ?? err.responseCode >= 500;
    // "[send] 550: 5.1.1 …", not "[send] 550: 550 5.1.1 …": the code is already in front.
    return new DeliveryError(stripReplyCode(text), {
      stage, permanent, code: String(err.responseCode), smtpCode: err.responseCode, providerCode: rule?.providerCode,
      hint: rule ? ruleHint(rule, { oauth: Boolean(context.oauth) }) : smtpHint(err.responseCode, text, stage, context.oauth),
      // A refused login no retry can cure (the XOAUTH2 one was retried with a fresh token) opens the breaker.
      kind: rule ? rule.kind : stage === "auth" && permanent ? "breaker" : undefined,
    });
  }
  if (TLS_CODES.test(causeCode ?? "") || TLS_CODES.test(message) || /certificate|self.signed|STARTTLS|\bTLS\b|\bSSL\b/i.test(message)) {
    return new DeliveryError(text, { stage: "tls", permanent: true, code: causeCode ?? code, hint: tlsHint(message, causeCode), kind: certificateKind(err, causeCode) });
  }
  if (code === "EAUTH") {
    // e.g. "Authentication credentials invalid" without a reply code, or no common mechanism.
    return new DeliveryError(text, { stage: "auth", permanent: true, code, hint: smtpHint(undefined, text, "auth", context.oauth), kind: "breaker" });
  }
  if (code === "EPRIVATE" || causeCode === "EPRIVATE") {
    return new DeliveryError(text, { stage: "connect", permanent: true, code: "EPRIVATE", hint: "the SMTP host resolves to a private or loopback address; set NOTIFY_ALLOW_PRIVATE_TARGETS=true if that is intended" });
  }
  if (code === "EDNS" || code === "ENOTFOUND" || causeCode === "ENOTFOUND") {
    const notFound = code === "ENOTFOUND" || causeCode === "ENOTFOUND" || /ENOTFOUND/.test(message);
    return new DeliveryError(text, { stage: "connect", permanent: notFound, code: causeCode ?? code, hint: "the SMTP host name does not resolve: check `host` for typos" });
  }
  if (code === "EENVELOPE") {
    return new DeliveryError(text, { stage: "send", permanent: true, code, hint: "the sender or recipient address was refused" });
  }
  if (code === "EPROTOCOL") {
    // A reply over maxResponseSize, or one nobody asked for: a broken (or hostile) server.
    return new DeliveryError(text, {
      stage: context.stage === "auth" || context.stage === "send" ? context.stage : "connect", permanent: false, code,
      hint: "the server's reply broke the SMTP protocol (too long, or out of turn): check that `host` and `port` point at an SMTP server",
    });
  }
  // Connection refused / reset / timeouts: the server may be back soon.
  const socketCode = /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|EHOSTUNREACH|ENETUNREACH/.exec(`${causeCode ?? ""} ${message}`)?.[0];
  const timedOut = /ETIMEDOUT|timeout/i.test(`${socketCode ?? code} ${message}`);
  if (context.stage === "auth" || context.stage === "send") {
    const during = context.stage === "auth" ? "the login" : "the send";
    return new DeliveryError(text, {
      stage: context.stage, permanent: false, code: socketCode ?? code,
      hint: timedOut
        ? `the server stopped answering during ${during}; it may be overloaded, try again later`
        : `the server closed the connection during ${during}; it may be overloaded or refuse this client, try again later`,
    });
  }
  return new DeliveryError(text, {
    stage: "connect", permanent: false, code: socketCode ?? code,
    hint: socketCode === "ECONNREFUSED"
      ? "nothing accepts connections on that host and port: check `host`, `port` and firewalls"
      : timedOut
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

/** "550 5.1.1 …" → "5.1.1 …"; also "550-" (the first line of a multi-line reply). */
function stripReplyCode(text: string): string {
  const c = text.charCodeAt(3);
  return text.length > 3 && (c === 32 || c === 45) && /^\d{3}/.test(text) ? text.slice(4) : text;
}

function shortCode(code: string | undefined): string | undefined {
  return code === undefined ? undefined : cleanPeerText(code, { max: 64 }) || undefined;
}
