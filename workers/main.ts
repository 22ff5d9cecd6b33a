// `npm start`: API + Bull Board + one worker in one process. Outside production with no
// DEFAULT_SMTP_URL it also runs the dev inbox and sends everything there.
import { boot } from "./boot.ts";
import { startApi } from "./start-api.ts";
import { startWorker } from "./start-worker.ts";
import { startSharedDevInbox } from "./dev-inbox.ts";
import { printBanner } from "./banner.ts";

const booted = await boot("main");
const devInbox = await startSharedDevInbox(booted);
await startWorker(booted);
const base = await startApi(booted, { devInbox });
printBanner(booted.settings, { title: "notify-smtp is running", base, devInbox: Boolean(devInbox) });
