// Microsoft Graph answers and network failures → DeliveryError, with the same fields as the
// SMTP classification (classify-smtp.ts) so the gate, the worker, test-send and the board read
// them alike. Graph's answers are stage "send"; dialling is "connect", the handshake "tls".
// What Graph said is cleaned (1 KB, no controls, our secrets masked) before it goes anywhere.
import { errors as undiciErrors } from "undici";
import { DeliveryError } from "../errors.ts";
import { cleanPeerText } from "../net/peer-text.ts";
import { INSECURE_URL } from "../net/guarded-connector.ts";
import { parseRetryAfter } from "../oauth/token-answer.ts";
import { graphRule } from "./graph-hints.ts";

export interface GraphAnswer {
  status: number;
  /** The body as read (capped by the caller). */
  body: string;
  retryAfter?: string;
}

/** A non-202 answer of sendMail. */
export function classifyGraphAnswer(answer: GraphAnswer, secrets: readonly (string | undefined)[]): DeliveryError {
  const { code, message } = graphError(answer.body);
  const cleanCode = cleanPeerText(code, { max: 64, secrets }) || `http_${answer.status}`;
  const text = cleanPeerText(message || `Microsoft Graph answered ${answer.status}`, { secrets });
  const rule = graphRule(answer.status, `${code} ${message.slice(0, 1024)}`);
  const permanent = rule?.permanent ?? answer.status < 500;
  return new DeliveryError(text, {
    stage: "send", permanent, code: String(answer.status), providerCode: cleanCode,
    hint: rule?.hint ?? (permanent ? "Microsoft Graph refused the request" : "Microsoft Graph had a temporary failure; the job will retry"),
    retryAfterMs: parseRetryAfter(answer.retryAfter),
    kind: rule?.kind,
  });
}

/** Graph's error JSON: `{ "error": { "code", "message" } }`; anything else has neither. */
function graphError(body: string): { code: string; message: string } {
  try {
    const parsed = JSON.parse(body) as { error?: { code?: unknown; message?: unknown } } | null;
    const error = parsed && typeof parsed === "object" ? parsed.error : undefined;
    if (error && typeof error === "object") {
      return { code: typeof error.code === "string" ? error.code : "", message: typeof error.message === "string" ? error.message : "" };
    }
  } catch {
    // not JSON: the status speaks for itself
  }
  return { code: "", message: body.slice(0, 1024) };
}

const TLS_CODES = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME|ERR_SSL|ERR_TLS|EPROTO|HOSTNAME_MISMATCH/;

/** A request that never got an answer: refused by our guard, unreachable, TLS trouble, or too slow. */
export function classifyGraphNetworkError(err: unknown, host: string, secrets: readonly (string | undefined)[]): DeliveryError {
  if (err instanceof DeliveryError) return err;
  const e = err as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
  const code = e.cause?.code ?? e.code ?? e.name ?? "EUNKNOWN";
  const message = cleanPeerText(e.cause?.message ?? e.message, { secrets });
  if (code === "EPRIVATE") {
    return new DeliveryError(message, { stage: "connect", permanent: true, code, hint: "graphUrl resolves to a private or loopback address; set NOTIFY_ALLOW_PRIVATE_TARGETS=true if that is intended" });
  }
  if (code === INSECURE_URL) {
    return new DeliveryError(message, { stage: "connect", permanent: true, code: "insecure_graph_url", hint: "use an https graphUrl (plain http is allowed only with NOTIFY_ALLOW_PRIVATE_TARGETS=true)" });
  }
  if (code === "ENOTFOUND") return new DeliveryError(`${host} does not resolve`, { stage: "connect", permanent: true, code, hint: "check graphUrl for typos (default https://graph.microsoft.com)" });
  if (TLS_CODES.test(code)) {
    return new DeliveryError(`the TLS handshake with ${host} failed (${message})`, { stage: "tls", permanent: true, code, kind: "breaker", hint: "graphUrl's certificate is not trusted or does not name its host: add its CA with NODE_EXTRA_CA_CERTS, or fix graphUrl" });
  }
  if (err instanceof undiciErrors.ConnectTimeoutError || code === "UND_ERR_CONNECT_TIMEOUT") {
    return new DeliveryError(`${host} did not accept a connection in time`, { stage: "connect", permanent: false, code: "ETIMEDOUT", hint: "Microsoft Graph is unreachable (firewall or outage); the job will retry" });
  }
  if (code === "ECONNREFUSED" || code === "EHOSTUNREACH" || code === "ENETUNREACH") {
    return new DeliveryError(`could not connect to ${host} (${code})`, { stage: "connect", permanent: false, code, hint: "nothing accepts connections at graphUrl: check it and outbound https; the job will retry" });
  }
  return new DeliveryError(`the request to ${host} failed: ${message}`, { stage: "send", permanent: false, code: cleanPeerText(code, { max: 64 }), hint: "the connection to Microsoft Graph broke during the request; the job will retry" });
}
