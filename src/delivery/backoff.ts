// Retry delays: exponential with "equal jitter" (half fixed, half random), so a burst of
// failures does not come back as a burst; a Retry-After from the other side wins.
import { DeliveryError } from "../errors.ts";

export interface BackoffOptions {
  /** Delay before the first retry. */
  baseMs: number;
  /** Cap on any one delay (Retry-After included). */
  maxMs: number;
}

export function retryDelay(attemptsMade: number, err: unknown, options: BackoffOptions, random: () => number = Math.random): number {
  if (err instanceof DeliveryError && err.retryAfterMs !== undefined) return Math.min(err.retryAfterMs, options.maxMs);
  const exponential = Math.min(options.maxMs, options.baseMs * 2 ** Math.max(0, attemptsMade - 1));
  return Math.round(exponential / 2 + random() * (exponential / 2));
}
