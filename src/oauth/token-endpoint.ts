// One POST to a token endpoint with undici: bounded in time and size, guarded against private
// targets on every dial, and every way it can go wrong turned into a classified DeliveryError
// (stage "token"). What the endpoint answered is read by token-answer.ts.
import { Agent, request, errors as undiciErrors } from "undici";
import { DeliveryError } from "../errors.ts";
import { guardedConnector, INSECURE_URL, refuseUrl } from "../net/guarded-connector.ts";
import { isPrivateAddress, type AddressGuard } from "../net/private-address.ts";
import { readTokenAnswer, secretForms, type TokenResponse } from "./token-answer.ts";

export { parseRetryAfter, type TokenResponse } from "./token-answer.ts";

export interface TokenEndpointOptions {
  /** Default 5 s. */
  connectTimeoutMs?: number;
  /** Whole request, from connect to the last body byte. Default 15 s. */
  timeoutMs?: number;
  /** Default 64 KiB: a token answer is small; anything bigger is not one. */
  maxResponseBytes?: number;
  /**
   * Refuse loopback/private addresses (checked on the address dialled, IP literals included)
   * and plain `http:` URLs. Default false.
   */
  blockPrivateTargets?: boolean;
  /** With blockPrivateTargets: which addresses count as blocked. Default: every non-public address. */
  blockedAddress?: AddressGuard;
}

export interface TokenPostOptions {
  headers?: Record<string, string>;
  /** Secrets the caller holds beyond what the request carries (e.g. private key material): masked in whatever the endpoint says. */
  secrets?: readonly (string | undefined)[];
}

/** Form fields whose values are credentials. */
const SECRET_FIELDS = ["client_secret", "assertion", "client_assertion", "password", "refresh_token"];

export class TokenEndpoint {
  private readonly agent: Agent;
  private readonly timeoutMs: number;
  private readonly maxBytes: number;
  private readonly blocked?: AddressGuard;

  constructor(options: TokenEndpointOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? 15_000;
    this.maxBytes = options.maxResponseBytes ?? 64 * 1024;
    const connectTimeoutMs = options.connectTimeoutMs ?? 5000;
    if (options.blockPrivateTargets) this.blocked = options.blockedAddress ?? isPrivateAddress;
    this.agent = new Agent({
      connect: this.blocked ? guardedConnector({ timeoutMs: connectTimeoutMs, blocked: this.blocked }) : { timeout: connectTimeoutMs },
      headersTimeout: this.timeoutMs,
      bodyTimeout: this.timeoutMs,
    });
  }

  async post(url: string, form: URLSearchParams, options: TokenPostOptions = {}): Promise<TokenResponse> {
    const headers = options.headers ?? {};
    const secrets = sentSecrets(form, headers, options.secrets ?? []);
    if (this.blocked) {
      const refused = refuseUrl(new URL(url), this.blocked);
      if (refused) throw networkError(refused, url);
    }
    // One deadline for everything, the body included: a peer that drips one byte a second
    // never trips undici's idle timeouts, but it does trip this.
    const signal = AbortSignal.timeout(this.timeoutMs);
    let status: number;
    let body: string;
    let retryAfter: string | undefined;
    try {
      const res = await request(url, {
        method: "POST",
        dispatcher: this.agent,
        headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json", ...headers },
        body: form.toString(),
        signal,
      });
      status = res.statusCode;
      const header = res.headers["retry-after"];
      retryAfter = Array.isArray(header) ? header[0] : header;
      body = await readCapped(res.body, this.maxBytes, signal);
    } catch (err) {
      throw networkError(err, url);
    }
    const answer = readTokenAnswer({ status, body, retryAfter, url, secrets });
    if (answer instanceof DeliveryError) throw answer;
    return answer;
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}

/** Every credential in the request, in the forms an echo could return it in. */
function sentSecrets(form: URLSearchParams, headers: Record<string, string>, extra: readonly (string | undefined)[]): string[] {
  const out: string[] = [];
  for (const field of SECRET_FIELDS) for (const value of form.getAll(field)) out.push(...secretForms(value));
  for (const [name, value] of Object.entries(headers)) {
    if (name.toLowerCase() !== "authorization") continue;
    const credentials = value.replace(/^\S+\s+/, "");
    out.push(value, credentials);
    // Basic: the decoded "id:secret" and each part.
    const decoded = Buffer.from(credentials, "base64").toString("utf8");
    if (/^[^:]*:/.test(decoded)) out.push(...secretForms(decoded), ...secretForms(decoded.slice(decoded.indexOf(":") + 1)));
  }
  for (const value of extra) out.push(...secretForms(value));
  // Longest first: a secret that contains another is masked whole.
  return [...new Set(out)].sort((a, b) => b.length - a.length);
}

async function readCapped(stream: AsyncIterable<Buffer> & { destroy(err?: Error): void }, max: number, signal: AbortSignal): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  const onAbort = () => stream.destroy(Object.assign(new Error("the token endpoint did not finish its answer in time"), { name: "TimeoutError" }));
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    for await (const chunk of stream) {
      size += chunk.length;
      if (size > max) {
        stream.destroy();
        throw new DeliveryError(`the token endpoint answered with more than ${max} bytes`, { stage: "token", permanent: true, code: "token_response_too_large", hint: "tokenUrl does not look like an OAuth token endpoint" });
      }
      chunks.push(chunk);
    }
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
  if (signal.aborted) throw Object.assign(new Error("the token endpoint did not finish its answer in time"), { name: "TimeoutError" });
  return Buffer.concat(chunks).toString("utf8");
}

function networkError(err: unknown, url: string): DeliveryError {
  if (err instanceof DeliveryError) return err;
  const e = err as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
  const code = e.cause?.code ?? e.code ?? e.name;
  const host = new URL(url).host;
  if (code === "ENOTFOUND") return new DeliveryError(`${host} does not resolve`, { stage: "token", permanent: true, code, hint: "check tokenUrl for typos" });
  if (code === "EPRIVATE") return new DeliveryError(e.cause?.message ?? e.message, { stage: "token", permanent: true, code, hint: "set NOTIFY_ALLOW_PRIVATE_TARGETS=true to allow private token endpoints" });
  if (code === INSECURE_URL) {
    return new DeliveryError(e.cause?.message ?? e.message, { stage: "token", permanent: true, code: "insecure_token_url", hint: "use an https tokenUrl (plain http is allowed only with NOTIFY_ALLOW_PRIVATE_TARGETS=true)" });
  }
  if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME/.test(code ?? "")) {
    return new DeliveryError(`the token endpoint's certificate is not trusted (${code})`, { stage: "token", permanent: true, code: code ?? "tls", hint: "add its CA with NODE_EXTRA_CA_CERTS", kind: "breaker" });
  }
  const timeout = err instanceof undiciErrors.ConnectTimeoutError || err instanceof undiciErrors.HeadersTimeoutError || err instanceof undiciErrors.BodyTimeoutError || e.name === "TimeoutError" || e.cause?.name === "TimeoutError";
  return new DeliveryError(timeout ? `the token endpoint ${host} did not answer in time` : `could not reach the token endpoint ${host} (${code ?? "network error"})`, {
    stage: "token", permanent: false, code: timeout ? "token_timeout" : code ?? "network_error",
    hint: "the identity provider is unreachable; the job will retry",
  });
}
