// Somewhere to send in development. `npm start` and `npm run api` run the dev inbox when no
// DEFAULT_SMTP_URL is set and publish its URL in Redis; `npm run worker` uses a published inbox,
// or says once, in plain words, that nothing without its own SMTP config will be delivered.
// The inbox's code (smtp-server, mailparser: dev dependencies) is only loaded here, on demand,
// so a production install without them never needs them.
import type { DevInbox } from "../src/dev-inbox/inbox.ts";
import { findDevInbox, publishDevInbox } from "../src/dev-inbox/registry.ts";
import type { Booted } from "./boot.ts";

/** The SMTP port the dev inbox tries first, so it stays the same across restarts of the API. */
export const DEV_INBOX_PORT = 2525;
export const DEV_FROM = "notify-smtp dev <notifications@example.test>";

function wanted(booted: Booted): boolean {
  return !booted.settings.production && !booted.settings.defaultSmtpUrl;
}

/**
 * For `npm start` / `npm run api`: starts the dev inbox, makes it the default server of this
 * process and publishes it for workers. Undefined in production, with DEFAULT_SMTP_URL, or
 * when the dev dependencies are not installed (then it says so).
 */
export async function startSharedDevInbox(booted: Booted): Promise<DevInbox | undefined> {
  if (!wanted(booted)) return undefined;
  const { settings, log, services, onShutdown } = booted;
  let startDevInbox: typeof import("../src/dev-inbox/inbox.ts").startDevInbox;
  try {
    ({ startDevInbox } = await import("../src/dev-inbox/inbox.ts"));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ERR_MODULE_NOT_FOUND") throw err;
    log.warn(
      "the dev inbox is not installed (smtp-server and mailparser are dev dependencies: run `npm ci` without --omit=dev), " +
        "and no DEFAULT_SMTP_URL is set: email to projects without their own SMTP config will not be delivered",
    );
    return undefined;
  }
  const inbox = await startDevInbox({ port: DEV_INBOX_PORT, anyPortIfTaken: true });
  onShutdown(() => inbox.close());
  settings.defaultSmtpUrl = inbox.url;
  settings.defaultFrom ??= DEV_FROM;
  const published = await publishDevInbox(services.redis, services.keys, inbox.url);
  onShutdown(() => published.stop());
  log.info({ smtp: inbox.url }, "dev inbox listening (workers started with `npm run worker` send here too)");
  return inbox;
}

/**
 * For `npm run worker`: without DEFAULT_SMTP_URL outside production, use the dev inbox a running
 * `npm start` / `npm run api` published; without one, warn once at start.
 */
export async function useSharedDevInbox(booted: Booted): Promise<void> {
  if (!wanted(booted)) return;
  const { settings, log, services } = booted;
  const url = await findDevInbox(services.redis, services.keys).catch(() => undefined);
  if (url) {
    settings.defaultSmtpUrl = url;
    settings.defaultFrom ??= DEV_FROM;
    log.info({ smtp: url }, "no DEFAULT_SMTP_URL: sending to the dev inbox of the running API (see /dev/inbox there)");
    return;
  }
  log.warn(
    "nothing will be delivered to projects without their own SMTP config: DEFAULT_SMTP_URL is not set and no dev inbox is running. " +
      "Start `npm run api` (or `npm start`) first and then the workers, so they use its dev inbox, " +
      "or set DEFAULT_SMTP_URL (e.g. smtp://user:pass@smtp.example.com:587)",
  );
}
