// keys rotate: after a master key change, reseal every stored secret under the current key
// (POST /v1/admin/keys/rotate) and print what it did. Safe to run again at any time.
import type { Command } from "../command.ts";
import { EXIT_FAILED } from "../errors.ts";
import { terminalText } from "../terminal-text.ts";
import type { RotationReport } from "../../key-rotation.ts";

export const keyCommands: Command[] = [
  {
    path: ["keys", "rotate"],
    summary: "reseal every stored SMTP config under the current NOTIFY_MASTER_KEY",
    flags: {},
    notes: [
      "First move the old key to NOTIFY_MASTER_KEY_PREVIOUS and the new one to NOTIFY_MASTER_KEY on every process.",
      "Safe to interrupt and to run again. Cached access tokens sealed under an old key are dropped (fetched again when needed).",
      "Exits 1 when a config could not be opened or kept changing, naming what to do.",
    ],
    async run(context) {
      const res = await context.api().post("/v1/admin/keys/rotate", {});
      const report = res.body as RotationReport;
      const n = (value: unknown) => (Number.isSafeInteger(value) ? String(value) : "?");
      const { configs, tokens } = report;
      await context.io.out(
        `configs: ${n(configs.resealed)} resealed, ${n(configs.current)} already current, ${n(configs.unreadable)} unreadable, ${n(configs.busy)} busy\n` +
          `tokens: ${n(tokens.dropped)} dropped (sealed under an old key), ${n(tokens.current)} current\n`,
      );
      const problems: string[] = [];
      if (configs.unreadable > 0) {
        const which = configs.unreadableProjects.map((p) => terminalText(p, 64)).join(", ");
        problems.push(
          `unreadable: ${which}${configs.unreadable > configs.unreadableProjects.length ? ", …" : ""}`,
          "  they were sealed with a key this server lacks: add it to NOTIFY_MASTER_KEY_PREVIOUS and run this again, or DELETE each config and PUT it again with its secrets",
        );
      }
      if (configs.busy > 0) problems.push("busy: some configs changed while they were resealed; run this again");
      if (problems.length > 0) {
        await context.io.err(`${problems.join("\n")}\n`);
        return EXIT_FAILED;
      }
      await context.io.out(`every stored config is sealed with master key ${terminalText(report.keyId, 16)}; NOTIFY_MASTER_KEY_PREVIOUS can be removed\n`);
      return 0;
    },
  },
];
