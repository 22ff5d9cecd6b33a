// Prints what POST …/smtp-config/test (and a failed PUT ?verify=true) answered: the reply and
// the time each stage took, or the stage that broke with its code and a hint.
import type { TestSendOutcome, StageTimings } from "../delivery/test-send.ts";
import type { Io } from "./io.ts";
import { CliError, EXIT_FAILED } from "./errors.ts";
import { terminalText } from "./terminal-text.ts";

/** The test route adds which server it tried. */
export type TestAnswer = TestSendOutcome & { server?: "project" | "default" };

const STAGES = ["token", "connect", "auth", "send"] as const;

export async function printTestOutcome(io: Io, answer: TestAnswer): Promise<number> {
  if (typeof answer !== "object" || answer === null || typeof answer.ok !== "boolean") {
    throw new CliError("the API gave an answer this CLI does not understand (is --api pointing at notify-smtp?)");
  }
  const timings = answer.timingsMs ? `timings: ${formatTimings(answer.timingsMs)}\n` : "";
  const server = answer.server === "default" ? "server: the default server (this project has no config of its own)\n" : "";
  // Replies, codes and hints carry what the SMTP server or token endpoint said: cleaned.
  if (answer.ok) {
    const reply = terminalText(answer.response ?? "accepted");
    await io.out(`ok: ${reply}${answer.messageId ? ` (messageId ${terminalText(answer.messageId, 200)})` : ""}\n${server}${timings}`);
    return 0;
  }
  const [stage, code, message] = [terminalText(answer.stage, 20), terminalText(answer.code, 100), terminalText(answer.message)];
  // SMTP messages often start with their own code ("535 5.7.8 …"): say it once.
  const what = message.startsWith(code) ? message : `${code} ${message}`;
  await io.err(`failed at ${stage}: ${what}\nhint: ${terminalText(answer.hint)}\n${server}${timings}`);
  return EXIT_FAILED;
}

function formatTimings(timings: StageTimings): string {
  const parts = STAGES.filter((stage) => typeof timings[stage] === "number").map((stage) => `${stage} ${timings[stage]} ms`);
  return [...parts, `total ${timings.total} ms`].join(", ");
}
