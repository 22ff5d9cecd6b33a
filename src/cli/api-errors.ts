// One readable line per failed API answer, from the contract's error shape
// `{ error: { code, message, details? } }`, with what to do next where there is an obvious fix.
import { CliError } from "./errors.ts";

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

export function describeFailure(status: number, statusText: string, body: unknown): CliError {
  const error = errorOf(body);
  const said = error.message ?? (statusText || "no explanation given");
  switch (status) {
    case 400:
      return new CliError(`the API rejected the request: ${said}`, (error.details ?? []).map((d) => `  ${d.field}: ${d.message}`));
    case 401:
      return new CliError("the API refused the token: set NOTIFY_ADMIN_TOKEN or --token");
    case 404:
      return new CliError(`not found: ${said}`);
    case 409:
      return new CliError(`conflict: ${said}`);
    case 413:
      return new CliError(`the request is too large for the API: ${said}`);
    default:
      if (status >= 500) return new CliError(`the API failed (${status}${error.code ? ` ${error.code}` : ""}): ${said}`);
      return new CliError(`the API answered ${status}: ${said}`);
  }
}
