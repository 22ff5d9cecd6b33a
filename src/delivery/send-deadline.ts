// The total deadline of one send (SEND_TIMEOUT_MS), on top of nodemailer's per-step timeouts.
// Those only notice silence: a server that answers one byte, or one `250-` continuation line,
// every few seconds never trips them and could hold a connection (and a worker slot) forever.
import { DeliveryError, type Stage } from "../errors.ts";

/** SEND_TIMEOUT_MS's default: 2 minutes from connect to the final reply. */
export const DEFAULT_SEND_TIMEOUT_MS = 120_000;

/** Transient: the server may be healthy again later, and the job retries with backoff. */
export function sendTimeoutError(stage: Stage, ms: number): DeliveryError {
  return new DeliveryError(`the server did not finish the ${stage === "send" ? "send" : "session setup"} within ${ms} ms (SEND_TIMEOUT_MS)`, {
    stage,
    permanent: false,
    code: "send_timeout",
    hint: "the server answers too slowly or keeps a reply going without finishing it; check `host` and `port`, and that the server is healthy",
  });
}

/**
 * A deadline that a sequence of steps races against. `stage` says which step is running, so
 * the error names it; `onExpire` tears down whatever is stuck (the connection).
 */
export class SendDeadline {
  /** The step running now; set by the caller as it moves on. */
  stage: Stage = "connect";
  private readonly timer: NodeJS.Timeout;
  private readonly expiry: Promise<never>;
  private expired = false;

  constructor(readonly ms: number, onExpire: () => void) {
    let fail!: (err: DeliveryError) => void;
    this.expiry = new Promise<never>((_, reject) => (fail = reject));
    // Nobody may be racing when it fires (between steps): that is not an unhandled rejection.
    this.expiry.catch(() => {});
    this.timer = setTimeout(() => {
      this.expired = true;
      fail(sendTimeoutError(this.stage, ms));
      onExpire();
    }, ms);
  }

  /** `step`'s outcome, or the deadline's error if it comes first. */
  race<T>(step: Promise<T>): Promise<T> {
    if (this.expired) {
      step.catch(() => {});
      return this.expiry;
    }
    return Promise.race([step, this.expiry]);
  }

  clear(): void {
    clearTimeout(this.timer);
  }
}
