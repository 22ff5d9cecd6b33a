// Errors are data: one classification (stage, permanent, codes, hint) used by the token
// client, the worker, the test-send endpoint and the board. Messages never carry a secret.

export type Stage = "config" | "token" | "connect" | "tls" | "auth" | "send";

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

  constructor(message: string, fields: DeliveryErrorFields) {
    super(message);
    this.stage = fields.stage;
    this.permanent = fields.permanent;
    this.code = fields.code;
    this.smtpCode = fields.smtpCode;
    this.providerCode = fields.providerCode;
    this.hint = fields.hint;
    this.retryAfterMs = fields.retryAfterMs;
  }

  /** The one line kept on a failed job: `[stage] code: message. Hint: …`. */
  describe(): string {
    return `[${this.stage}] ${this.code}: ${this.message}${this.hint ? `. Hint: ${this.hint}` : ""}`;
  }

  toJSON(): DeliveryErrorFields & { message: string } {
    return {
      stage: this.stage, permanent: this.permanent, code: this.code, message: this.message,
      smtpCode: this.smtpCode, providerCode: this.providerCode, hint: this.hint, retryAfterMs: this.retryAfterMs,
    };
  }
}
