// One POST to a token endpoint with undici: bounded in time and size, and every way it can go
// wrong turned into a classified DeliveryError (stage "token").
import { Agent, request, errors as undiciErrors } from "undici";
import { DeliveryError } from "../errors.ts";
import { publicOnlyLookup } from "../net/private-address.ts";
import { tokenHint } from "./hints.ts";

export interface TokenResponse {
  accessToken: string;
  /** Seconds, as the provider said. */
  expiresIn: number;
}

export interface TokenEndpointOptions {
  /** Default 5 s. */
  connectTimeoutMs?: number;
  /** Whole request, default 15 s. */
  timeoutMs?: number;
  /** Default 64 KiB: a token answer is small; anything bigger is not one. */
  maxResponseBytes?: number;
  /** Refuse to connect to loopback/private addresses (checked on every DNS answer, not just at PUT time). */
  blockPrivateTargets?: boolean;
}

const PERMANENT_ERRORS = new Set(["invalid_client", "unauthorized_client", "invalid_scope", "invalid_grant", "invalid_request", "unsupported_grant_type"]);

export class TokenEndpoint {
  private readonly agent: Agent;
  private readonly timeoutMs: number;
  private readonly maxBytes: number;

  constructor(options: TokenEndpointOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? 15_000;
    this.maxBytes = options.maxResponseBytes ?? 64 * 1024;
    this.agent = new Agent({
      connect: { timeout: options.connectTimeoutMs ?? 5000, ...(options.blockPrivateTargets ? { lookup: publicOnlyLookup } : {}) },
      headersTimeout: this.timeoutMs,
      bodyTimeout: this.timeoutMs,
    });
  }

  async post(url: string, form: URLSearchParams, headers: Record<string, string> = {}): Promise<TokenResponse> {
    let status: number;
    let body: string;
    let retryAfter: string | undefined;
    try {
      const res = await request(url, {
        method: "POST",
        dispatcher: this.agent,
        headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json", ...headers },
        body: form.toString(),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      status = res.statusCode;
      const header = res.headers["retry-after"];
      retryAfter = Array.isArray(header) ? header[0] : header;
      body = await readCapped(res.body, this.maxBytes);
    } catch (err) {
      throw networkError(err, url);
    }
    return parseAnswer(status, body, retryAfter, url);
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}

async function readCapped(stream: AsyncIterable<Buffer> & { destroy(): void }, max: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += chunk.length;
    if (size > max) {
      stream.destroy();
      throw new DeliveryError(`the token endpoint answered with more than ${max} bytes`, { stage: "token", permanent: true, code: "token_response_too_large", hint: "tokenUrl does not look like an OAuth token endpoint" });
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function parseAnswer(status: number, body: string, retryAfter: string | undefined, url: string): TokenResponse {
  let json: Record<string, unknown> | undefined;
  try {
    const parsed: unknown = JSON.parse(body);
    if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) json = parsed as Record<string, unknown>;
  } catch {
    json = undefined;
  }
  if (status === 429 || status >= 500) {
    return throwing(new DeliveryError(`the token endpoint answered HTTP ${status}`, {
      stage: "token", permanent: false, code: `http_${status}`, retryAfterMs: parseRetryAfter(retryAfter),
      hint: status === 429 ? "the identity provider is rate limiting us; the job will retry" : "the identity provider is having trouble; the job will retry",
    }));
  }
  if (status >= 400) {
    const error = typeof json?.error === "string" ? json.error : `http_${status}`;
    const description = typeof json?.error_description === "string" ? json.error_description.split(/\r?\n/)[0]!.slice(0, 400) : "";
    const permanent = PERMANENT_ERRORS.has(error) || status === 404 || status === 405;
    return throwing(new DeliveryError(description ? `${error}: ${description}` : `the token endpoint answered HTTP ${status} (${error})`, {
      stage: "token", permanent, code: error, providerCode: /AADSTS\d+/.exec(description)?.[0] ?? error,
      // A rejected client stays rejected until the config changes: it opens the mailbox's breaker.
      kind: permanent && (error === "invalid_client" || error === "unauthorized_client") ? "breaker" : undefined,
      hint: tokenHint(error, description, url) ?? (status === 404 ? "tokenUrl was not found: check the URL" : undefined),
    }));
  }
  if (!json) {
    return throwing(new DeliveryError(`the token endpoint answered HTTP ${status} with something that is not JSON`, {
      stage: "token", permanent: true, code: "token_response_not_json", hint: "tokenUrl does not look like an OAuth token endpoint",
    }));
  }
  const accessToken = json.access_token;
  const expiresIn = Number(json.expires_in ?? 3600);
  if (typeof accessToken !== "string" || accessToken.length === 0 || !Number.isFinite(expiresIn) || expiresIn <= 0) {
    return throwing(new DeliveryError("the token endpoint's answer has no usable access_token/expires_in", {
      stage: "token", permanent: true, code: "token_response_incomplete", hint: "tokenUrl does not look like an OAuth token endpoint",
    }));
  }
  return { accessToken, expiresIn };
}

function throwing(err: DeliveryError): never {
  throw err;
}

function networkError(err: unknown, url: string): DeliveryError {
  if (err instanceof DeliveryError) return err;
  const e = err as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
  const code = e.cause?.code ?? e.code ?? e.name;
  const host = new URL(url).host;
  if (code === "ENOTFOUND") return new DeliveryError(`${host} does not resolve`, { stage: "token", permanent: true, code, hint: "check tokenUrl for typos" });
  if (code === "EPRIVATE") return new DeliveryError(e.cause?.message ?? e.message, { stage: "token", permanent: true, code, hint: "set NOTIFY_ALLOW_PRIVATE_TARGETS=true to allow private token endpoints" });
  if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME/.test(code ?? "")) {
    return new DeliveryError(`the token endpoint's certificate is not trusted (${code})`, { stage: "token", permanent: true, code: code ?? "tls", hint: "add its CA with NODE_EXTRA_CA_CERTS", kind: "breaker" });
  }
  const timeout = err instanceof undiciErrors.ConnectTimeoutError || err instanceof undiciErrors.HeadersTimeoutError || err instanceof undiciErrors.BodyTimeoutError || e.name === "TimeoutError";
  return new DeliveryError(timeout ? `the token endpoint ${host} did not answer in time` : `could not reach the token endpoint ${host} (${code ?? "network error"})`, {
    stage: "token", permanent: false, code: timeout ? "token_timeout" : code ?? "network_error",
    hint: "the identity provider is unreachable; the job will retry",
  });
}

/** Seconds or an HTTP date → ms; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}
