#!/usr/bin/env node
// The `notify-smtp` command. An installed package runs the compiled CLI in dist/; a checkout
// (sources present, tsx installed as a dev dependency) runs the TypeScript sources, so edits
// take effect without a build.
import { existsSync } from "node:fs";

const sources = new URL("../src/cli/main.ts", import.meta.url);
let tsx;
if (existsSync(sources)) tsx = await import("tsx/esm/api").catch(() => undefined);
if (tsx) {
  tsx.register();
  await import(sources.href);
} else {
  await import(new URL("../dist/src/cli/main.js", import.meta.url).href);
}
