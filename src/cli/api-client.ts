// The CLI's only way to the service: JSON over HTTP with the admin token. Turns every way a
// request can go wrong into one CliError line (see api-errors.ts); the token is only ever put
// in the Authorization header, never in a message.
import { CliError } from "./errors.ts";
import { describeFailure } from "./api-errors.ts";

export const DEFAULT_API_URL = "http://127.0.0.1:3000";
/** Generous: `config test` waits for a real SMTP server, whose own timeouts are shorter. */
const REQUEST_TIMEOUT_MS = 120_000;

export interface ApiResponse {
  status: number;
  /** Parsed JSON, or undefined for an empty or non-JSON body. */
  body: unknown;
}

export interface RequestOptions {
  body?: unknown;
  /** Statuses the caller handles itself (e.g. 422 from a test send) instead of failing. */
  accept?: number[];
}

export class ApiClient {
  readonly baseUrl: string;
  /** The URL as it may be printed: no user info, no trailing slash. */
  readonly displayUrl: string;

  constructor(
    baseUrl: string,
    private readonly token: string,
    /** Named when the API refuses the token. */
    private readonly tokenSource: "NOTIFY_ADMIN_TOKEN" | "--token" = "NOTIFY_ADMIN_TOKEN",
  ) {
    const url = new URL(baseUrl);
    url.username = "";
    url.password = "";
    this.displayUrl = url.toString().replace(/\/+$/, "");
    this.baseUrl = baseUrl.replace(/\/+$/, "");
  }

  get(path: string, options?: RequestOptions): Promise<ApiResponse> {
    return this.request("GET", path, options);
  }

  put(path: string, body: unknown, options?: RequestOptions): Promise<ApiResponse> {
    return this.request("PUT", path, { ...options, body });
  }

  post(path: string, body: unknown, options?: RequestOptions): Promise<ApiResponse> {
    return this.request("POST", path, { ...options, body });
  }

  delete(path: string, options?: RequestOptions): Promise<ApiResponse> {
    return this.request("DELETE", path, options);
  }

  async request(method: string, path: string, options: RequestOptions = {}): Promise<ApiResponse> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.token}`, accept: "application/json" };
    if (options.body !== undefined) headers["content-type"] = "application/json";
    let response: Response;
    try {
      response = await fetch(this.baseUrl + path, {
        method,
        headers,
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (error) {
      throw new CliError(`cannot reach the API at ${this.displayUrl}: ${networkReason(error)}`);
    }
    const text = await response.text().catch(() => "");
    const body = parseJson(text);
    if (response.ok || options.accept?.includes(response.status)) return { status: response.status, body };
    throw describeFailure(response.status, response.statusText, body, { tokenSource: this.tokenSource, retryAfter: response.headers.get("retry-after") });
  }
}

/** fetch hides the socket error in `cause`; that is the part worth showing. */
function networkReason(error: unknown): string {
  if (error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError")) {
    return `no answer within ${REQUEST_TIMEOUT_MS / 1000} s`;
  }
  const cause = error instanceof Error ? (error.cause as { code?: unknown; message?: unknown } | undefined) : undefined;
  if (cause && typeof cause.code === "string") {
    const known: Record<string, string> = {
      ECONNREFUSED: "connection refused (is the API running? start it with `npm start`, or set NOTIFY_API_URL / --api)",
      ENOTFOUND: "unknown host",
      EAI_AGAIN: "the host name could not be resolved (DNS)",
      ECONNRESET: "the connection was reset",
      ETIMEDOUT: "the connection timed out",
    };
    return known[cause.code] ?? cause.code;
  }
  if (cause && typeof cause.message === "string" && cause.message) return cause.message;
  return error instanceof Error ? error.message : String(error);
}

function parseJson(text: string): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
