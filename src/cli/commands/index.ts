// Every command, in the order --help lists them, and the flags all of them take.
import type { Command } from "../command.ts";
import type { FlagSpecs } from "../args.ts";
import { configCommands } from "./config.ts";
import { sendCommand } from "./send.ts";
import { jobCommands } from "./jobs.ts";
import { keyCommands } from "./keys.ts";

export const COMMANDS: Command[] = [...configCommands, sendCommand, ...jobCommands, ...keyCommands];

export const GLOBAL_FLAGS: FlagSpecs = {
  api: { type: "string", valueName: "URL", help: "the API's base URL (else NOTIFY_API_URL, else http://127.0.0.1:3000)" },
  token: { type: "string", valueName: "T", help: "the admin token (else NOTIFY_ADMIN_TOKEN; the variable keeps it out of `ps` and shell history)" },
};

/** Groups with subcommands, for `notify-smtp config --help` and "config needs a subcommand". */
export const GROUPS: Record<string, string> = {
  config: "a project's SMTP server",
  jobs: "follow, list and retry jobs",
  keys: "the master key that seals stored secrets",
};
