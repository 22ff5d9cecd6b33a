// Where a secret setting comes from: the variable itself, a file named by `<NAME>_FILE`
// (Docker/Kubernetes secrets, systemd credentials), or, outside production, a development
// value generated once into `.data/` and kept there across restarts.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { ConfigError } from "./config-error.ts";

export interface SecretValue {
  value: string;
  /** "env": the variable; "file": the file `<NAME>_FILE` names. */
  source: "env" | "file";
  /** The file read, when source is "file". */
  file?: string;
}

/**
 * `NAME`, or the trimmed content of the file `NAME_FILE` names; undefined when neither is set.
 * Both at once is an error: which one wins would be a guess.
 */
export function secretSetting(env: NodeJS.ProcessEnv, name: string): SecretValue | undefined {
  const direct = env[name]?.trim();
  const fileName = env[`${name}_FILE`]?.trim();
  if (direct && fileName) throw new ConfigError(`set ${name} or ${name}_FILE, not both`);
  if (direct) return { value: direct, source: "env" };
  if (!fileName) return undefined;
  let content: string;
  try {
    content = readFileSync(fileName, "utf8");
  } catch (err) {
    throw new ConfigError(`${name}_FILE names ${fileName}, which cannot be read (${describeFsError(err)})`);
  }
  const value = content.trim();
  if (!value) throw new ConfigError(`${name}_FILE names ${fileName}, which is empty`);
  return { value, source: "file", file: fileName };
}

function describeFsError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === "ENOENT") return "no such file";
  if (code === "EACCES") {
    const uid = typeof process.getuid === "function" ? ` by uid ${process.getuid()}` : "";
    return `not readable${uid}`;
  }
  if (code === "EISDIR") return "it is a directory";
  return code ?? (err as Error).message;
}

/**
 * The development secret kept in `file`: read when it exists, else `generate()`d and written
 * with mode 0600. `wx`, so two processes starting at once agree on one value.
 */
export function keptDevSecret(file: string, generate: () => string): { value: string; created: boolean } {
  const existing = readIfExists(file);
  if (existing !== undefined) return { value: existing, created: false };
  const value = generate();
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  try {
    writeFileSync(file, value + "\n", { mode: 0o600, flag: "wx" });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    // Another process won the race (or the file is there but empty: not ours to overwrite).
    const now = readIfExists(file);
    if (now === undefined) throw new ConfigError(`${file} is empty: delete it and a new value is generated`);
    return { value: now, created: false };
  }
  return { value, created: true };
}

function readIfExists(file: string): string | undefined {
  try {
    const value = readFileSync(file, "utf8").trim();
    return value || undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}
