// Entry point of the `notify-smtp` bin (bin/notify-smtp.js loads it through tsx).
import { run } from "./run.ts";
import { processIo } from "./io.ts";

// A reader that goes away (`notify-smtp jobs failed | head -1`) is not an error worth a trace.
process.stdout.on("error", () => process.exit(0));

const code = await run(process.argv.slice(2), processIo());
// Exit explicitly: fetch's keep-alive sockets would otherwise hold the process open for a few
// seconds, and nothing after the command may run or print. Every write above has been flushed.
process.exit(code);
