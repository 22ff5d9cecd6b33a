// The CLI's boundaries and pure pieces: it only speaks HTTP (no module that could open Redis,
// no dependency beyond Node's built-ins), tables fit the terminal, flags parse strictly.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { renderTable } from "../../src/cli/table.ts";
import { checkFlags, tokenize } from "../../src/cli/args.ts";
import { UsageError } from "../../src/cli/errors.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const cliDir = join(root, "src/cli");
/** Modules outside src/cli the CLI may load at run time: plain constants, no I/O. */
const ALLOWED_OUTSIDE = new Set(["src/jobs/contracts.ts", "src/jobs/states.ts", "src/net/peer-text.ts"]);

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sources(join(dir, entry.name)) : entry.name.endsWith(".ts") ? [join(dir, entry.name)] : []);
}

test("the CLI loads nothing but Node built-ins, its own modules, the job contracts and the peer-text cleaner", () => {
  const offenders: string[] = [];
  for (const file of sources(cliDir)) {
    const text = readFileSync(file, "utf8");
    // `import type` is erased before run time; every other import and re-export is loaded.
    for (const match of text.matchAll(/^(?:import|export)\s+(?!type\s)[^;]*?from\s+"([^"]+)"/gms)) {
      const specifier = match[1]!;
      if (specifier.startsWith("node:")) continue;
      const target = specifier.startsWith(".") ? relative(root, resolve(dirname(file), specifier)) : specifier;
      if (target.startsWith("src/cli/") || ALLOWED_OUTSIDE.has(target)) continue;
      offenders.push(`${relative(root, file)} → ${specifier}`);
    }
  }
  assert.deepEqual(offenders, []);
  for (const allowed of ALLOWED_OUTSIDE) {
    assert.doesNotMatch(readFileSync(join(root, allowed), "utf8"), /^import\s+(?!type\s)/m, `${allowed} must stay import-free`);
  }
});

test("a table pads its columns and cuts only the last one to the width", () => {
  const out = renderTable(["ID", "REASON"], [["a", "x".repeat(50)], ["bbb", "short\nline"]], { width: 30 });
  const lines = out.trimEnd().split("\n");
  assert.deepEqual(lines, ["ID   REASON", `a    ${"x".repeat(24)}…`, "bbb  short line"]);
  assert.equal(renderTable(["A"], [["y".repeat(200)]]).trimEnd().split("\n")[1], "y".repeat(200), "no width: nothing cut");
});

test("flags: values, repeats, booleans and unknown names", () => {
  const types = { project: "string", to: "string", verify: "boolean", api: "string" } as const;
  const line = tokenize(["config", "set", "--project=p1", "--to", "a", "--to", "b", "--verify", "--", "--literal"], types);
  assert.deepEqual(line.words, ["config", "set", "--literal"]);
  const values = checkFlags(line, {
    project: { type: "string", required: true, help: "" },
    to: { type: "string", multiple: true, help: "" },
    verify: { type: "boolean", help: "" },
  }, "config set");
  assert.deepEqual(values, { project: "p1", to: ["a", "b"], verify: true });

  const usage = (fn: () => unknown, message: RegExp) => assert.throws(fn, (e: unknown) => e instanceof UsageError && message.test(e.message));
  usage(() => tokenize(["--project"], types), /^--project needs a value/);
  usage(() => tokenize(["--project", "--verify"], types), /^--project needs a value/);
  usage(() => tokenize(["--verify=no"], types), /^--verify takes no value/);
  usage(() => checkFlags(tokenize(["--nope"], types), {}, "jobs failed"), /^unknown flag --nope for "jobs failed"/);
  usage(() => checkFlags(tokenize(["--constructor"], types), {}, "x"), /^unknown flag --constructor/);
  usage(() => checkFlags(tokenize(["--project", "a", "--project", "b"], types), { project: { type: "string", help: "" } }, "x"), /only once/);
  usage(() => checkFlags(tokenize([], types), { project: { type: "string", required: true, valueName: "P", help: "" } }, "x"), /^missing --project P/);
  assert.deepEqual(tokenize(["--project", "-"], types).flags.get("project"), ["-"], "`-` (stdin) is a value");
});
