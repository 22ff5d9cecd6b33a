// A stored config this process cannot open: sealed under a master key it does not have, or
// damaged. One error with one explanation, so the API (409), the worker (the job's reason) and
// the CLI all say the same thing and what to do about it.
import { SealError, UnknownKeyError } from "../crypto/seal.ts";

export type UnreadableCode = "sealed_with_unknown_key" | "sealed_config_unreadable";

export class UnreadableConfigError extends SealError {
  override name = "UnreadableConfigError";
  readonly code: UnreadableCode;
  /** One sentence a person can act on. */
  readonly hint: string;

  constructor(readonly projectId: string, cause: SealError) {
    const unknownKey = cause instanceof UnknownKeyError;
    super(
      unknownKey
        ? `the SMTP config of project ${projectId} was sealed with master key ${cause.keyId}, which this process does not have (current key ${cause.currentKeyId})`
        : `the SMTP config of project ${projectId} cannot be opened: ${cause.message}`,
    );
    this.code = unknownKey ? "sealed_with_unknown_key" : "sealed_config_unreadable";
    this.hint = unknownKey
      ? "set NOTIFY_MASTER_KEY_PREVIOUS to the old key (then run `notify-smtp keys rotate`), or DELETE the config and PUT it again with all its secrets"
      : "DELETE the config and PUT it again with all its secrets";
  }
}
