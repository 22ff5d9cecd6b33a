// Turns argv into command words and flag values with node:util parseArgs, then checks them
// against what the chosen command accepts. parseArgs runs non-strict so that every mistake
// gets our own one-line message (naming the flag and the command) instead of Node's.
import { parseArgs } from "node:util";
import { UsageError } from "./errors.ts";

export interface FlagSpec {
  type: "string" | "boolean";
  /** May be given more than once (values collected in order). */
  multiple?: boolean;
  required?: boolean;
  /** Shown in help: `--project P`. */
  valueName?: string;
  help: string;
}

export type FlagSpecs = Record<string, FlagSpec>;
export type FlagValues = Record<string, string | boolean | string[] | undefined>;

export interface ParsedLine {
  /** Positionals in order: command words first, then the command's own arguments. */
  words: string[];
  /** Raw flags by name: a string flag's values in order (repeats are checked per command). */
  flags: Map<string, string[]>;
  /** `--help` / `-h` was present anywhere. */
  help: boolean;
}

/**
 * First pass, before the command is known. `types` names every flag any command accepts, so
 * `--project --to x` is caught as a missing value rather than read as the project "--to".
 */
export function tokenize(argv: string[], types: Record<string, "string" | "boolean">): ParsedLine {
  const options = Object.fromEntries(Object.entries(types).map(([name, type]) => [name, { type, multiple: true }]));
  const { tokens } = parseArgs({ args: argv, options: { ...options, help: { type: "boolean", short: "h" } }, strict: false, allowPositionals: true, tokens: true });
  const line: ParsedLine = { words: [], flags: new Map(), help: false };
  for (const token of tokens) {
    if (token.kind === "positional") line.words.push(token.value);
    if (token.kind !== "option") continue;
    if (token.name === "help") {
      line.help = true;
      continue;
    }
    const values = line.flags.get(token.name) ?? [];
    // Unknown flags are kept as they are and reported once the command is known.
    const type = Object.hasOwn(types, token.name) ? types[token.name] : undefined;
    if (type === "string") {
      // Non-strict parseArgs takes the next word as the value even when it looks like a flag.
      if (token.value === undefined || (!token.inlineValue && token.value.startsWith("-") && token.value !== "-")) {
        throw new UsageError(`${token.rawName} needs a value`);
      }
      values.push(token.value);
    } else if (type === "boolean" && token.value !== undefined) {
      throw new UsageError(`${token.rawName} takes no value`);
    }
    line.flags.set(token.name, values);
  }
  return line;
}

/** Second pass: the flags the command accepts, required ones present, no repeats. */
export function checkFlags(line: ParsedLine, specs: FlagSpecs, commandName: string): FlagValues {
  const values: FlagValues = {};
  for (const [name, given] of line.flags) {
    const spec = Object.hasOwn(specs, name) ? specs[name] : undefined;
    if (!spec) throw new UsageError(`unknown flag ${flagLabel(name)} for "${commandName}"`, commandName);
    if (spec.type === "boolean") {
      values[name] = true;
      continue;
    }
    if (!spec.multiple && given.length > 1) throw new UsageError(`--${name} may be given only once`, commandName);
    values[name] = spec.multiple ? given : given[0];
  }
  for (const [name, spec] of Object.entries(specs)) {
    if (spec.required && values[name] === undefined) throw new UsageError(`missing --${name}${spec.valueName ? ` ${spec.valueName}` : ""}`, commandName);
  }
  return values;
}

function flagLabel(name: string): string {
  return name.length === 1 ? `-${name}` : `--${name}`;
}
