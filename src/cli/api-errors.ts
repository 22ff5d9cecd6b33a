// One readable line per failed API answer, from the contract's error shape
// `{ error: { code, message, details? } }`, with what to do next where there is an obvious fix.
// Everything the server said is cleaned for the terminal (terminal-text.ts).
import { CliError } from "./errors.ts";
import { terminalText } from "./terminal-text.ts";

interface ErrorShape {
  code?: string;
  message?: string;
  details?: { field: string; message: string }[];
}

/** The `error` object of an answer, when it has the contract's shape. */
export function errorOf(body: unknown): ErrorShape {
  if (typeof body !== "object" || body === null || !("error" in body)) return {};
  const error = (body as { error: unknown }).error;
  if (typeof error !== "object" || error === null) return {};
  const { code, message, details } = error as Record<string, unknown>;
  return {
    code: typeof code === "string" ? code : undefined,
    message: typeof message === "string" ? message : undefined,
    details: Array.isArray(details) ? details.filter(isFieldError) : undefined,
  };
}

function isFieldError(value: unknown): value is { field: string; message: string } {
  return typeof value === "object" && value !== null && typeof (value as { field?: unknown }).field === "string" && typeof (value as { message?: unknown }).message === "string";
}

export interface FailureContext {
  /** Where the token came from, to name it when it is refused. */
  tokenSource?: "NOTIFY_ADMIN_TOKEN" | "--token";
  /** The answer's Retry-After header. */
  retryAfter?: string | null;
}

export function describeFailure(status: number, statusText: string, body: unknown, context: FailureContext = {}): CliError {
  const error = errorOf(body);
  const said = terminalText(error.message ?? (statusText || "no explanation given"));
  const code = error.code === undefined ? undefined : terminalText(error.code, 100);
  switch (status) {
    case 400:
      return new CliError(`the API rejected the request: ${said}`, (error.details ?? []).map((d) => `  ${terminalText(d.field, 200)}: ${terminalText(d.message)}`));
    case 401:
      // The token was sent and refused: the fix is a different token, not "set one".
      return new CliError(`the API refused the token given by ${context.tokenSource ?? "NOTIFY_ADMIN_TOKEN"}: it does not match the server's NOTIFY_ADMIN_TOKEN`);
    case 429: {
      const seconds = /^\d{1,6}$/.test(context.retryAfter ?? "") ? ` in ${context.retryAfter} s` : " later";
      return new CliError(`the API refused too many wrong admin tokens from this address; try again${seconds} with the right one`);
    }
    case 404:
      return new CliError(`not found: ${said}`);
    case 409:
      return new CliError(`conflict: ${said}`);
    case 413:
      return new CliError(`the request is too large for the API: ${said}`);
    default:
      if (status >= 500) return new CliError(`the API failed (${status}${code ? ` ${code}` : ""}): ${said}`);
      return new CliError(`the API answered ${status}: ${said}`);
  }
}
