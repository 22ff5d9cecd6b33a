// `.env` in the working directory, read once at start by every role. Real environment
// variables always win: a file left in a checkout must never override what a deployment sets.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseEnv } from "node:util";
import { ConfigError } from "./config-error.ts";
import type { Logger } from "./log.ts";

export interface EnvFileResult {
  /** The file that was read. */
  file: string;
  /** Names taken from the file (those the environment did not set already). */
  applied: string[];
  /** Names in the file that the environment already set, so the file's values were ignored. */
  overridden: string[];
  /** Names that only take effect when set before Node starts (NODE_OPTIONS, NODE_EXTRA_CA_CERTS). */
  tooLate: string[];
}

export interface LoadEnvFileOptions {
  /** Directory holding `.env`. Default: the current directory. */
  cwd?: string;
  /** The environment to fill in. Default: `process.env`. */
  env?: NodeJS.ProcessEnv;
}

/** Node reads these itself before any of our code runs; from `.env` they would do nothing. */
const READ_BY_NODE_AT_START = new Set(["NODE_OPTIONS", "NODE_EXTRA_CA_CERTS", "UV_THREADPOOL_SIZE"]);

/**
 * Reads `.env` (Node's own parser: `KEY=value`, quotes, `#` comments, `export` prefixes) into
 * `env` for every name not set there yet. Returns undefined when there is no `.env`.
 */
export function loadEnvFile(options: LoadEnvFileOptions = {}): EnvFileResult | undefined {
  const file = join(options.cwd ?? process.cwd(), ".env");
  const env = options.env ?? process.env;
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return undefined;
    throw new ConfigError(`cannot read ${file} (${code ?? (err as Error).message}); fix its permissions or remove it`);
  }
  const result: EnvFileResult = { file, applied: [], overridden: [], tooLate: [] };
  for (const [name, value] of Object.entries(parseEnv(text))) {
    if (value === undefined) continue;
    if (env[name] !== undefined) {
      result.overridden.push(name);
      continue;
    }
    env[name] = value;
    result.applied.push(name);
    if (READ_BY_NODE_AT_START.has(name) && value.trim()) result.tooLate.push(name);
  }
  return result;
}

/** One line for the start-up log. Names only, never values: `.env` holds secrets. */
export function reportEnvFile(log: Logger, result: EnvFileResult): void {
  log.info({ file: result.file, applied: result.applied.length, environmentWins: result.overridden }, "read .env");
  for (const name of result.tooLate) {
    log.warn({ file: result.file }, `${name} in .env has no effect (Node reads it before any code runs): set it in the environment`);
  }
}
