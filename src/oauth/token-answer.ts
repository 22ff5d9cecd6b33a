// Reading what a token endpoint answered. The endpoint is the project's, not ours: it may
// answer megabytes, terminal escapes, an `expires_in` of 1e308, or our own request echoed back.
// Every piece of its text goes through cleanPeerText (1 KB, no controls, our secrets masked)
// before it becomes a DeliveryError, so nothing it says reaches a reason, a log line, Redis or
// a terminal unchecked.
import { DeliveryError } from "../errors.ts";
import { cleanPeerText, PEER_TEXT_MAX } from "../net/peer-text.ts";
import { tokenHint } from "./hints.ts";

export interface TokenResponse {
  accessToken: string;
  /** Seconds: what the provider said, clamped to `MAX_TOKEN_LIFETIME_S`. */
  expiresIn: number;
}

/** No provider issues day-long access tokens; a longer claim is capped, not trusted. */
export const MAX_TOKEN_LIFETIME_S = 86_400;
/** RFC 6749 §5.1 makes expires_in optional: without it, assume the common hour. */
const DEFAULT_LIFETIME_S = 3600;
/** An OAuth error is a short code; a longer one is shown only this far. */
const ERROR_SHOWN_MAX = 100;
/** An OAuth error code is a short token (RFC 6749 §5.2); anything else is not used as our code. */
const ERROR_CODE = /^[A-Za-z0-9_.:-]{1,64}$/;

const PERMANENT_ERRORS = new Set(["invalid_client", "unauthorized_client", "invalid_scope", "invalid_grant", "invalid_request", "unsupported_grant_type"]);

export interface AnswerContext {
  status: number;
  body: string;
  retryAfter?: string;
  url: string;
  /** Everything secret we sent or hold, in every form it could come back in. */
  secrets: readonly string[];
}

/** The token, or the classified DeliveryError (stage "token") to throw. */
export function readTokenAnswer(answer: AnswerContext): TokenResponse | DeliveryError {
  const { status, url, secrets } = answer;
  const json = parseObject(answer.body);
  if (status === 429 || status >= 500) {
    return new DeliveryError(`the token endpoint answered HTTP ${status}`, {
      stage: "token", permanent: false, code: `http_${status}`, retryAfterMs: parseRetryAfter(answer.retryAfter),
      hint: status === 429 ? "the identity provider is rate limiting us; the job will retry" : "the identity provider is having trouble; the job will retry",
    });
  }
  if (status >= 400) {
    const error = cleanPeerText(typeof json?.error === "string" ? json.error : "", { secrets, max: ERROR_SHOWN_MAX });
    const code = ERROR_CODE.test(error) ? error : `http_${status}`;
    const shownError = error || `http_${status}`;
    // The whole message, "<error>: <description>", stays within one peer-text field (1 KB).
    const description = cleanPeerText(firstLine(json?.error_description), { secrets, max: PEER_TEXT_MAX - shownError.length - 2 });
    const permanent = PERMANENT_ERRORS.has(code) || status === 404 || status === 405;
    return new DeliveryError(description ? `${shownError}: ${description}` : `the token endpoint answered HTTP ${status} (${shownError})`, {
      stage: "token", permanent, code, providerCode: /AADSTS\d+/.exec(description)?.[0] ?? code,
      // A rejected client stays rejected until the config changes: it opens the mailbox's breaker.
      kind: permanent && (code === "invalid_client" || code === "unauthorized_client") ? "breaker" : undefined,
      hint: tokenHint(code, description, url) ?? (status === 404 ? "tokenUrl was not found: check the URL" : undefined),
    });
  }
  if (!json) {
    return new DeliveryError(`the token endpoint answered HTTP ${status} with something that is not JSON`, {
      stage: "token", permanent: true, code: "token_response_not_json", hint: "tokenUrl does not look like an OAuth token endpoint",
    });
  }
  const accessToken = json.access_token;
  const expiresIn = parseExpiresIn(json.expires_in);
  // A token goes into an SMTP command (base64) and Redis: printable ASCII only, as RFC 6750's b64token.
  if (typeof accessToken !== "string" || !/^[\x21-\x7e]+$/.test(accessToken) || expiresIn === undefined) {
    return new DeliveryError("the token endpoint's answer has no usable access_token/expires_in", {
      stage: "token", permanent: true, code: "token_response_incomplete", hint: "tokenUrl does not look like an OAuth token endpoint",
    });
  }
  return { accessToken, expiresIn };
}

/**
 * `expires_in` as seconds: a finite positive number, or a string of digits (some providers
 * send "3600"); capped at a day. Absent means the default hour; anything else is undefined.
 */
export function parseExpiresIn(value: unknown): number | undefined {
  if (value === undefined || value === null) return DEFAULT_LIFETIME_S;
  let n = Number.NaN;
  if (typeof value === "number") n = value;
  else if (typeof value === "string" && /^\s*\d{1,15}\s*$/.test(value)) n = Number(value);
  if (!Number.isFinite(n) || n <= 0) return undefined;
  return Math.min(n, MAX_TOKEN_LIFETIME_S);
}

/** Seconds or an HTTP date → ms; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d{1,12}$/.test(trimmed)) return Number(trimmed) * 1000;
  if (trimmed.length > 64) return undefined;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/**
 * The forms a secret we sent can come back in: as is, form-encoded (an echoed request body),
 * percent-encoded, and JSON-escaped.
 */
export function secretForms(secret: string | undefined): string[] {
  if (!secret) return [];
  const form = new URLSearchParams({ v: secret }).toString().slice(2);
  return [...new Set([secret, form, encodeURIComponent(secret), JSON.stringify(secret).slice(1, -1)])];
}

function parseObject(body: string): Record<string, unknown> | undefined {
  try {
    const parsed: unknown = JSON.parse(body);
    if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
  } catch {
    // not JSON: the caller says so
  }
  return undefined;
}

/** Microsoft appends "Trace ID: …" lines; the first line is the one a person needs. Cut before scanning. */
function firstLine(value: unknown): string {
  if (typeof value !== "string") return "";
  const head = value.slice(0, 8 * 1024);
  const end = head.search(/[\r\n]/);
  return end < 0 ? head : head.slice(0, end);
}
