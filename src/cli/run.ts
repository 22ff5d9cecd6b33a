// The runner: argv → command → exit code. Every failure, expected or not, ends here as one
// line on stderr (plus detail lines for invalid fields), never as a stack trace, and with the
// token scrubbed from it should any path ever echo it.
import { tokenize, checkFlags, type FlagSpecs } from "./args.ts";
import { ApiClient, DEFAULT_API_URL } from "./api-client.ts";
import type { Command, CommandContext } from "./command.ts";
import { COMMANDS, GLOBAL_FLAGS, GROUPS } from "./commands/index.ts";
import { CliError, EXIT_FAILED, EXIT_USAGE, UsageError } from "./errors.ts";
import { commandHelp, groupHelp, mainHelp } from "./help.ts";
import type { Io } from "./io.ts";
import { withoutControls } from "./terminal-text.ts";

export async function run(argv: string[], rawIo: Io): Promise<number> {
  // Whatever a command prints, no control character reaches the terminal (each command also
  // cleans the server's strings itself; this catches what one might miss).
  const io: Io = { ...rawIo, out: (text) => rawIo.out(withoutControls(text)), err: (text) => rawIo.err(withoutControls(text)) };
  const secrets = new Set<string>();
  if (io.env.NOTIFY_ADMIN_TOKEN) secrets.add(io.env.NOTIFY_ADMIN_TOKEN);
  try {
    return await dispatch(argv, io, secrets);
  } catch (error) {
    return report(error, io, secrets);
  }
}

async function dispatch(argv: string[], io: Io, secrets: Set<string>): Promise<number> {
  const line = tokenize(argv, flagTypes());
  for (const value of line.flags.get("token") ?? []) secrets.add(value);
  let words = line.words;
  let help = line.help;
  if (words[0] === "help") [help, words] = [true, words.slice(1)];

  if (words.length === 0) {
    if (!help) throw new UsageError("missing command");
    await io.out(mainHelp());
    return 0;
  }
  const command = findCommand(words);
  if (!command) {
    const [first = "", second] = words;
    if (!Object.hasOwn(GROUPS, first)) throw new UsageError(`unknown command "${first}"`);
    if (help && second === undefined) {
      await io.out(groupHelp(first));
      return 0;
    }
    const subcommands = COMMANDS.filter((c) => c.path[0] === first).map((c) => c.path[1]).join(", ");
    if (second === undefined) throw new UsageError(`"${first}" needs a subcommand: ${subcommands}`, first);
    throw new UsageError(`unknown command "${first} ${second}"; ${first} has ${subcommands}`, first);
  }
  if (help) {
    await io.out(commandHelp(command));
    return 0;
  }

  const name = command.path.join(" ");
  const flags = checkFlags(line, { ...command.flags, ...GLOBAL_FLAGS }, name);
  const args = words.slice(command.path.length);
  const expected = command.args ?? [];
  if (args.length < expected.length) throw new UsageError(`missing ${expected[args.length]!.name}`, name);
  if (args.length > expected.length) throw new UsageError(`unexpected argument "${args[expected.length]}"`, name);

  let client: ApiClient | undefined;
  const context: CommandContext = {
    flags,
    args,
    io,
    api: () => (client ??= connect(flags.api, flags.token, io)),
  };
  return command.run(context);
}

/** The longest command path the words start with. */
function findCommand(words: string[]): Command | undefined {
  return COMMANDS.filter((c) => c.path.every((word, i) => words[i] === word)).sort((a, b) => b.path.length - a.path.length)[0];
}

/** Every flag any command takes, by type, for the first parse. */
function flagTypes(): Record<string, "string" | "boolean"> {
  const all: FlagSpecs = Object.assign({}, GLOBAL_FLAGS, ...COMMANDS.map((c) => c.flags));
  return Object.fromEntries(Object.entries(all).map(([name, spec]) => [name, spec.type]));
}

function connect(apiFlag: unknown, tokenFlag: unknown, io: Io): ApiClient {
  const fromFlag = typeof apiFlag === "string";
  const url = fromFlag ? apiFlag : io.env.NOTIFY_API_URL || DEFAULT_API_URL;
  if (!/^https?:\/\//i.test(url) || !URL.canParse(url)) {
    const message = `${fromFlag ? "--api" : "NOTIFY_API_URL"} must be an http:// or https:// URL, e.g. ${DEFAULT_API_URL}`;
    throw fromFlag ? new UsageError(message) : new CliError(message, [], EXIT_USAGE);
  }
  const token = typeof tokenFlag === "string" ? tokenFlag : io.env.NOTIFY_ADMIN_TOKEN;
  if (!token) {
    throw new CliError("no admin token: set NOTIFY_ADMIN_TOKEN or pass --token (`npm start` prints the one it generated)", [], EXIT_USAGE);
  }
  return new ApiClient(url, token, typeof tokenFlag === "string" ? "--token" : "NOTIFY_ADMIN_TOKEN");
}

async function report(error: unknown, io: Io, secrets: Set<string>): Promise<number> {
  const [message, detail, code] =
    error instanceof CliError
      ? [error.message, error.detail, error.exitCode]
      // A bug of ours: still one line, and the first line of the message only.
      : [`unexpected error: ${(error instanceof Error ? error.message : String(error)).split("\n")[0]}`, [], EXIT_FAILED];
  let text = [`notify-smtp: ${message}`, ...detail].join("\n") + "\n";
  for (const secret of secrets) if (secret.length >= 4) text = text.replaceAll(secret, "[redacted]");
  await io.err(text);
  return code;
}
