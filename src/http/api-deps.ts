// Everything buildApp needs, assembled from the shared services: used by the API entry point
// and by the test harness, so both build the app the same way.
import type { Settings } from "../config.ts";
import type { Logger } from "../log.ts";
import type { Services } from "../services.ts";
import type { Metrics } from "../metrics.ts";
import type { DevInbox } from "../dev-inbox/inbox.ts";
import type { TransportTuning } from "../delivery/transport-options.ts";
import { XOAuth2 } from "../delivery/xoauth2.ts";
import { createTokenService } from "../oauth/token-service.ts";
import { defaultServerConfig } from "../smtp-config/default-server.ts";
import type { AppDeps } from "./app.ts";
import { MailboxAdmin } from "../mailbox/admin.ts";

export type ApiSettings = Pick<Settings, "adminToken" | "allowPrivateTargets" | "masterKey" | "defaultSmtpUrl" | "defaultFrom">;

export interface ApiDepsOptions {
  metrics?: Metrics;
  devInbox?: DevInbox;
  /** Connection settings for test-sends (tests add their CA and shorter timeouts). */
  tuning?: TransportTuning;
}

export function assembleApiDeps(services: Services, settings: ApiSettings, log: Logger, options: ApiDepsOptions = {}): { deps: AppDeps; close(): Promise<void> } {
  // Test-sends use the same token cache, shared in Redis, as the workers.
  const tokenService = createTokenService({ redis: services.redis, keys: services.keys, masterKey: settings.masterKey, allowPrivateTargets: settings.allowPrivateTargets, log });
  const deps: AppDeps = {
    log,
    redis: services.redis,
    producer: services.producer,
    store: services.store,
    adminToken: settings.adminToken,
    allowPrivateTargets: settings.allowPrivateTargets,
    metrics: options.metrics,
    devInbox: options.devInbox,
    mailboxes: new MailboxAdmin(services.redis, services.keys, settings.masterKey, services.producer.queue, log),
    testing: {
      masterKey: settings.masterKey,
      xoauth2: new XOAuth2(tokenService.tokens, settings.masterKey),
      defaultConfig: defaultServerConfig(settings),
      tuning: { blockPrivateTargets: !settings.allowPrivateTargets, ...options.tuning },
    },
  };
  return { deps, close: () => tokenService.close() };
}
