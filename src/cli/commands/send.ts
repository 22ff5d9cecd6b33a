// send: enqueue one email per recipient through POST /v1/emails, printing each job id.
import type { Command } from "../command.ts";
import { projectFlag, stringFlag } from "../command.ts";
import { readJsonObject } from "../json-file.ts";
import { UsageError } from "../errors.ts";
import { EMAIL_TYPES } from "../../jobs/contracts.ts";
import { terminalText } from "../terminal-text.ts";

interface EnqueueAnswer {
  jobs: { id: string; to: string }[];
}

export const sendCommand: Command = {
  path: ["send"],
  summary: "enqueue an incident, alert or status-page email",
  flags: {
    type: { type: "string", required: true, valueName: EMAIL_TYPES.join("|"), help: "the email type" },
    project: { type: "string", required: true, valueName: "P", help: "the project id" },
    to: { type: "string", multiple: true, required: true, valueName: "addr", help: "a recipient; repeat for more (one job each)" },
    data: { type: "string", required: true, valueName: "file.json", help: "the type's data as JSON (`-` reads stdin)" },
    "idempotency-key": { type: "string", valueName: "K", help: "the same key + recipient never sends twice" },
  },
  notes: [
    "Prints one line per job: its id, a space, its recipient. Follow one with `notify-smtp jobs get ID`.",
    'Example data for an incident: {"incidentId":"42","title":"API is down","state":"created","severity":"critical"}',
  ],
  async run(context) {
    const type = stringFlag(context, "type");
    if (!(EMAIL_TYPES as readonly string[]).includes(type)) throw new UsageError(`--type must be one of ${EMAIL_TYPES.join(", ")}`, "send");
    const projectId = projectFlag(context, "send");
    const to = context.flags.to as string[];
    const data = await readJsonObject(stringFlag(context, "data"), context.io, "--data");
    const idempotencyKey = context.flags["idempotency-key"];
    const res = await context.api().post("/v1/emails", { type, projectId, to, data, ...(typeof idempotencyKey === "string" ? { idempotencyKey } : {}) });
    const { jobs } = res.body as EnqueueAnswer;
    // No header: `notify-smtp send … | cut -d' ' -f1` gives the ids.
    await context.io.out(jobs.map((job) => `${terminalText(job.id, 200)} ${terminalText(job.to, 400)}\n`).join(""));
    return 0;
  },
};
