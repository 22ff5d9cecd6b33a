// `npm start`: API + Bull Board + one worker in one process. Outside production with no
// DEFAULT_SMTP_URL it also runs the dev inbox and sends everything there.
import { boot } from "./boot.ts";
import { startApi } from "./start-api.ts";
import { startWorker } from "./start-worker.ts";
import { startDevInbox, type DevInbox } from "../src/dev-inbox/inbox.ts";

const booted = await boot("main");
const { settings, onShutdown } = booted;

let devInbox: DevInbox | undefined;
if (!settings.production && !settings.defaultSmtpUrl) {
  devInbox = await startDevInbox({});
  onShutdown(() => devInbox!.close());
  settings.defaultSmtpUrl = devInbox.url;
  settings.defaultFrom ??= "notify-smtp dev <notifications@example.test>";
}

await startWorker(booted);
const base = await startApi(booted, { devInbox });

const lines = [
  "",
  `  notify-smtp is running`,
  `  API          ${base}/v1  (Authorization: Bearer <token>)`,
  `  Bull Board   ${base}/admin/queues  (any user name, the token as password)`,
  ...(devInbox ? [`  Dev inbox    ${base}/dev/inbox  (every email lands here; no DEFAULT_SMTP_URL is set)`] : []),
  settings.adminTokenGenerated ? `  Admin token  ${settings.adminToken}  (generated for this run; set NOTIFY_ADMIN_TOKEN to keep one)` : `  Admin token  from NOTIFY_ADMIN_TOKEN`,
  "",
  `  Try it:`,
  `  curl -s -X POST ${base}/v1/emails -H "Authorization: Bearer ${settings.adminTokenGenerated ? settings.adminToken : "$NOTIFY_ADMIN_TOKEN"}" -H "Content-Type: application/json" \\`,
  `    -d '{"type":"incident","projectId":"demo","to":["you@example.com"],"data":{"incidentId":"42","title":"API is down","state":"created","severity":"critical"}}'`,
  "",
];
process.stdout.write(lines.join("\n") + "\n");
