// Errors are data: one classification (stage, permanent, codes, hint) used by the token
// client, the worker, the test-send endpoint and the board. Messages never carry a secret.

export type Stage = "config" | "token" | "connect" | "tls" | "auth" | "send";

/**
 * What a failure means for the mailbox, beyond this one job (read by src/mailbox/gate.ts):
 * - `throttle`: the server asks us to slow down (432 4.3.2, 421/450 4.7.x, 454 4.7.0, Graph 429);
 * - `quota`: the mailbox's daily sending quota is used up (554 5.2.0 SubmissionQuotaExceeded, 550 5.4.5);
 * - `breaker`: no retry can cure it until someone changes something (credentials refused after a
 *   fresh token, basic auth disabled, invalid_client, an untrusted certificate, send-as denied).
 */
export type FailureKind = "throttle" | "quota" | "breaker";

export interface DeliveryErrorFields {
  stage: Stage;
  /** Permanent: retrying cannot help, fail the job now. */
  permanent: boolean;
  /** A stable short code: an SMTP reply code ("550"), a socket code ("ECONNREFUSED"), a provider error ("invalid_client"). */
  code: string;
  smtpCode?: number;
  providerCode?: string;
  /** One sentence a person can act on. */
  hint?: string;
  /** From Retry-After, when the other side said when to come back. */
  retryAfterMs?: number;
  /** Set when the failure is about the mailbox rather than this job. */
  kind?: FailureKind;
}

export class DeliveryError extends Error implements DeliveryErrorFields {
  override name = "DeliveryError";
  readonly stage: Stage;
  readonly permanent: boolean;
  readonly code: string;
  readonly smtpCode?: number;
  readonly providerCode?: string;
  readonly hint?: string;
  readonly retryAfterMs?: number;
  readonly kind?: FailureKind;

  constructor(message: string, fields: DeliveryErrorFields) {
    super(message);
    this.stage = fields.stage;
    this.permanent = fields.permanent;
    this.code = fields.code;
    this.smtpCode = fields.smtpCode;
    this.providerCode = fields.providerCode;
    this.hint = fields.hint;
    this.retryAfterMs = fields.retryAfterMs;
    this.kind = fields.kind;
  }

  /** The one line kept on a failed job: `[stage] code: message. Hint: …`. */
  describe(): string {
    return `[${this.stage}] ${this.code}: ${this.message}${this.hint ? `. Hint: ${this.hint}` : ""}`;
  }

  toJSON(): DeliveryErrorFields & { message: string } {
    return {
      stage: this.stage, permanent: this.permanent, code: this.code, message: this.message,
      smtpCode: this.smtpCode, providerCode: this.providerCode, hint: this.hint, retryAfterMs: this.retryAfterMs, kind: this.kind,
    };
  }
}
