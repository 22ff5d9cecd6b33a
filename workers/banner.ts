// What a person starting a role in a terminal needs to see first: where things are and, outside
// production, the development admin token (kept in .data/admin.token, so it survives restarts).
// Written to stdout directly, not through the logger: the token must never reach a log line.
import { join } from "node:path";
import type { Settings } from "../src/config.ts";

export interface BannerOptions {
  title: string;
  /** The API's base URL, when this role serves it. */
  base?: string;
  /** True when this process runs the dev inbox. */
  devInbox?: boolean;
}

function tokenLine(settings: Settings): string {
  switch (settings.adminTokenSource) {
    case "generated":
      return `  Admin token  ${settings.adminToken}  (new; kept in ${join(settings.dataDir, "admin.token")}; set NOTIFY_ADMIN_TOKEN to choose one)`;
    case "kept":
      return `  Admin token  ${settings.adminToken}  (from ${join(settings.dataDir, "admin.token")})`;
    case "file":
      return "  Admin token  from NOTIFY_ADMIN_TOKEN_FILE";
    default:
      return "  Admin token  from NOTIFY_ADMIN_TOKEN";
  }
}

export function bannerLines(settings: Settings, options: BannerOptions): string[] {
  const { base } = options;
  const shownToken = settings.adminTokenGenerated ? settings.adminToken : "$NOTIFY_ADMIN_TOKEN";
  return [
    "",
    `  ${options.title}`,
    ...(base
      ? [
          `  API          ${base}/v1  (Authorization: Bearer <token>)`,
          `  Bull Board   ${base}/admin/queues  (any user name, the token as password)`,
        ]
      : []),
    ...(base && options.devInbox ? [`  Dev inbox    ${base}/dev/inbox  (no DEFAULT_SMTP_URL is set: every email lands here, also from \`npm run worker\`s)`] : []),
    tokenLine(settings),
    ...(base
      ? [
          "",
          "  Try it:",
          `  curl -s -X POST ${base}/v1/emails -H "Authorization: Bearer ${shownToken}" -H "Content-Type: application/json" \\`,
          `    -d '{"type":"incident","projectId":"demo","to":["you@example.com"],"data":{"incidentId":"42","title":"API is down","state":"created","severity":"critical"}}'`,
        ]
      : []),
    "",
  ];
}

export function printBanner(settings: Settings, options: BannerOptions): void {
  process.stdout.write(bannerLines(settings, options).join("\n") + "\n");
}

/** For roles without the API (`npm run worker`): only the development token, if there is one. */
export function printDevToken(settings: Settings): void {
  if (settings.adminTokenGenerated) process.stdout.write(tokenLine(settings).trim() + "\n");
}
