// config set / get / delete / test: a project's SMTP server over /v1/projects/:id/smtp-config.
import type { Command, CommandContext } from "../command.ts";
import { pretty, projectFlag, stringFlag } from "../command.ts";
import { readJsonObject } from "../json-file.ts";
import { EXIT_FAILED } from "../errors.ts";
import { printTestOutcome, type TestAnswer } from "../test-outcome.ts";

const project = { type: "string", required: true, valueName: "P", help: "the project id" } as const;

const configPath = (context: CommandContext, command: string): string =>
  `/v1/projects/${encodeURIComponent(projectFlag(context, command))}/smtp-config`;

export const configCommands: Command[] = [
  {
    path: ["config", "set"],
    summary: "store a project's SMTP config from a JSON file",
    flags: {
      project,
      file: { type: "string", required: true, valueName: "cfg.json", help: "the config as JSON (`-` reads stdin)" },
      verify: { type: "boolean", help: "connect and log in first; keep the old config if that fails" },
    },
    notes: [
      "Prints the stored config with every secret shown as \"[redacted]\".",
      "A file that omits the password (or has \"[redacted]\") keeps the stored one.",
    ],
    async run(context) {
      const path = configPath(context, "config set");
      const config = await readJsonObject(stringFlag(context, "file"), context.io, "--file");
      const verify = context.flags.verify === true;
      const res = await context.api().put(`${path}${verify ? "?verify=true" : ""}`, config, { accept: verify ? [422] : [] });
      if (res.status === 422) {
        await printTestOutcome(context.io, res.body as TestAnswer);
        await context.io.err("the stored config was not changed\n");
        return EXIT_FAILED;
      }
      await context.io.out(pretty(res.body));
      return 0;
    },
  },
  {
    path: ["config", "get"],
    summary: "show a project's SMTP config (secrets redacted)",
    flags: { project },
    async run(context) {
      const res = await context.api().get(configPath(context, "config get"));
      await context.io.out(pretty(res.body));
      return 0;
    },
  },
  {
    path: ["config", "delete"],
    summary: "remove a project's SMTP config; it falls back to the default server",
    flags: { project },
    async run(context) {
      await context.api().delete(configPath(context, "config delete"));
      await context.io.out(`deleted the SMTP config of project ${stringFlag(context, "project")}; it now uses the default server\n`);
      return 0;
    },
  },
  {
    path: ["config", "test"],
    summary: "send one test email now, stage by stage, and say where it broke",
    flags: {
      project,
      to: { type: "string", required: true, valueName: "addr", help: "who receives the test email" },
    },
    notes: ["Exits 1 when the test fails, printing the stage (token, connect, tls, auth, send), the code and a hint."],
    async run(context) {
      const res = await context.api().post(`${configPath(context, "config test")}/test`, { to: stringFlag(context, "to") }, { accept: [422] });
      return printTestOutcome(context.io, res.body as TestAnswer);
    },
  },
];
