// What a command is: its words, flags and arguments (which also make its --help), and what it
// runs. Commands get their inputs and the API client through the context, never from process.
import type { ApiClient } from "./api-client.ts";
import type { FlagSpecs, FlagValues } from "./args.ts";
import type { Io } from "./io.ts";
import { UsageError } from "./errors.ts";
import { PROJECT_ID_PATTERN } from "../jobs/contracts.ts";
import { terminalJson } from "./terminal-text.ts";

export interface CommandContext {
  flags: FlagValues;
  args: string[];
  io: Io;
  /** The API client; created on first use, so --help and usage errors need no token. */
  api(): ApiClient;
}

export interface Command {
  /** e.g. ["config", "set"]. */
  path: string[];
  summary: string;
  /** Positional arguments, all required, e.g. a job id. */
  args?: { name: string; help: string }[];
  flags: FlagSpecs;
  /** Extra help lines: examples, what is printed. */
  notes?: string[];
  /** Resolves to the exit code. */
  run(context: CommandContext): Promise<number>;
}

/** A string flag's value; checkFlags has already enforced `required`. */
export function stringFlag(context: CommandContext, name: string): string {
  const value = context.flags[name];
  return typeof value === "string" ? value : "";
}

const projectIdPattern = new RegExp(PROJECT_ID_PATTERN);

/** Checked here too, so a typo is a usage error with the rule, before any request. */
export function projectFlag(context: CommandContext, command: string): string {
  const project = stringFlag(context, "project");
  if (!projectIdPattern.test(project)) throw new UsageError(`--project must be 1–64 letters, digits, "_" or "-"`, command);
  return project;
}

/** An API answer as indented JSON, safe for a terminal. */
export function pretty(value: unknown): string {
  return `${terminalJson(value)}\n`;
}
