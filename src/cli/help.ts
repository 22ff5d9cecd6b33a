// --help text, made from the same command table the parser uses, so they cannot disagree.
import type { FlagSpec, FlagSpecs } from "./args.ts";
import type { Command } from "./command.ts";
import { COMMANDS, GLOBAL_FLAGS, GROUPS } from "./commands/index.ts";

export function usageLine(command: Command): string {
  const flags = Object.entries(command.flags).map(([name, spec]) => {
    const text = flagText(name, spec) + (spec.multiple ? " …" : "");
    return spec.required ? text : `[${text}]`;
  });
  const args = (command.args ?? []).map((a) => a.name);
  return ["notify-smtp", ...command.path, ...args, ...flags].join(" ");
}

export function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.path.join(" ").length + argsText(c).length));
  const lines = COMMANDS.map((c) => `  ${(c.path.join(" ") + argsText(c)).padEnd(width)}  ${c.summary}`);
  return [
    "notify-smtp: operate the notify-smtp email service over its HTTP API.",
    "",
    "Usage: notify-smtp <command> [flags]",
    "",
    "Commands:",
    ...lines,
    "",
    "Every command takes:",
    ...flagLines(GLOBAL_FLAGS),
    "  -h, --help        help for a command, e.g. notify-smtp config set --help",
    "",
    "Errors print one line on stderr; the exit code is 1 when the operation failed, 2 for a wrong command line.",
    "",
  ].join("\n");
}

export function groupHelp(group: string): string {
  const commands = COMMANDS.filter((c) => c.path[0] === group);
  return [
    `notify-smtp ${group}: ${GROUPS[group] ?? ""}`,
    "",
    ...commands.map((c) => `  ${usageLine(c)}\n      ${c.summary}`),
    "",
    `Run notify-smtp ${group} <subcommand> --help for details.`,
    "",
  ].join("\n");
}

export function commandHelp(command: Command): string {
  const args = (command.args ?? []).map((a) => `  ${a.name.padEnd(18)}${a.help}`);
  return [
    `Usage: ${usageLine(command)}`,
    "",
    `${command.summary[0]!.toUpperCase()}${command.summary.slice(1)}.`,
    ...(args.length ? ["", "Arguments:", ...args] : []),
    ...(Object.keys(command.flags).length ? ["", "Flags:", ...flagLines(command.flags)] : []),
    "",
    "Connection:",
    ...flagLines(GLOBAL_FLAGS),
    ...(command.notes?.length ? ["", ...command.notes] : []),
    "",
  ].join("\n");
}

function argsText(command: Command): string {
  return (command.args ?? []).map((a) => ` ${a.name}`).join("");
}

function flagText(name: string, spec: FlagSpec): string {
  return spec.type === "boolean" ? `--${name}` : `--${name} ${spec.valueName ?? "VALUE"}`;
}

function flagLines(specs: FlagSpecs): string[] {
  const entries = Object.entries(specs);
  const width = Math.max(16, ...entries.map(([name, spec]) => flagText(name, spec).length));
  return entries.map(([name, spec]) => `  ${flagText(name, spec).padEnd(width)}  ${spec.help}${spec.required ? " (required)" : ""}`);
}
