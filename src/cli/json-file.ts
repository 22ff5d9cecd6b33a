// Reads the JSON object a command sends (`--file`, `--data`; `-` is stdin). Every failure names
// the file. Parse errors give a line and column but never quote the text: a config file holds
// a password, and Node's messages can echo a slice of it.
import { readFile } from "node:fs/promises";
import type { Io } from "./io.ts";
import { CliError } from "./errors.ts";

export async function readJsonObject(path: string, io: Io, flag: string): Promise<Record<string, unknown>> {
  const name = path === "-" ? "stdin" : path;
  const text = path === "-" ? await io.readStdin() : await readText(path, flag);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new CliError(`${name} (${flag}) is not valid JSON: ${whereItBroke(text, error)}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new CliError(`${name} (${flag}) must hold a JSON object ({ … }), not ${Array.isArray(value) ? "an array" : typeof value === "object" ? "null" : `a ${typeof value}`}`);
  }
  return value as Record<string, unknown>;
}

async function readText(path: string, flag: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why =
      code === "ENOENT" ? "no such file" :
      code === "EISDIR" ? "it is a directory" :
      code === "EACCES" || code === "EPERM" ? "permission denied" :
      code ?? "unreadable";
    throw new CliError(`cannot read ${path} (${flag}): ${why}`);
  }
}

function whereItBroke(text: string, error: unknown): string {
  const message = error instanceof Error ? error.message : "";
  if (text.trim() === "") return "the file is empty";
  if (/Unexpected end of JSON input/.test(message)) return "it ends too early";
  const position = /at position (\d+)/.exec(message);
  if (!position) return "unexpected text";
  const before = text.slice(0, Number(position[1]));
  const line = before.split("\n").length;
  const column = before.length - before.lastIndexOf("\n");
  return `unexpected text at line ${line}, column ${column}`;
}
