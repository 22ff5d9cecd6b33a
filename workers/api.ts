// `npm run api`: the HTTP API and Bull Board, without a worker. Outside production with no
// DEFAULT_SMTP_URL it runs the dev inbox too, and `npm run worker`s started later send there.
import { boot } from "./boot.ts";
import { startApi } from "./start-api.ts";
import { startSharedDevInbox } from "./dev-inbox.ts";
import { printBanner } from "./banner.ts";

const booted = await boot("api");
const devInbox = await startSharedDevInbox(booted);
const base = await startApi(booted, { devInbox });
printBanner(booted.settings, { title: "notify-smtp API is running (no worker: start `npm run worker`s to deliver)", base, devInbox: Boolean(devInbox) });
