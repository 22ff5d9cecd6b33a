#!/usr/bin/env node
// The `notify-smtp` command. The project runs its TypeScript sources directly (no build
// step), so this shim registers tsx's loader and hands over to src/cli/main.ts.
import { register } from "tsx/esm/api";

register();
await import("../src/cli/main.ts");
