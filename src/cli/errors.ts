// What a command can fail with. The runner prints `message` (and any `detail` lines) and exits
// with `exitCode`; nothing else reaches the user, so no stack trace ever does.

/** 1: the operation failed (API said no, unreachable, bad file). 2: the command line was wrong. */
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

export class CliError extends Error {
  override name = "CliError";
  constructor(
    message: string,
    /** Extra lines after the first, e.g. one `field: message` per invalid field. */
    readonly detail: string[] = [],
    readonly exitCode: number = EXIT_FAILED,
  ) {
    super(message);
  }
}

/** The command line itself is wrong; the message points at `--help`. */
export class UsageError extends CliError {
  override name = "UsageError";
  constructor(message: string, helpFor = "") {
    super(`${message} (see: notify-smtp ${helpFor ? `${helpFor} ` : ""}--help)`, [], EXIT_USAGE);
  }
}
