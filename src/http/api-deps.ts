// Everything buildApp needs, assembled from the shared services: used by the API entry point
// and by the test harness, so both build the app the same way.
import type { Settings } from "../config.ts";
import type { Logger } from "../log.ts";
import type { Services } from "../services.ts";
import type { Metrics } from "../metrics.ts";
import type { DevInbox } from "../dev-inbox/inbox.ts";
import type { TransportTuning } from "../delivery/transport-options.ts";
import { XOAuth2 } from "../delivery/xoauth2.ts";
import { createTokenService, type TokenServiceOptions } from "../oauth/token-service.ts";
import { defaultServerConfig } from "../smtp-config/default-server.ts";
import type { AppDeps } from "./app.ts";
import { rotateMasterKey } from "../key-rotation.ts";
import { MailboxAdmin } from "../mailbox/admin.ts";

export type ApiSettings = Pick<Settings, "adminToken" | "allowPrivateTargets" | "masterKey" | "defaultSmtpUrl" | "defaultFrom" | "sendTimeoutMs">;

export interface ApiDepsOptions {
  metrics?: Metrics;
  devInbox?: DevInbox;
  /** Connection settings for test-sends (tests add their CA and shorter timeouts). */
  tuning?: TransportTuning;
  /** Token endpoint timeouts and caps for test-sends (default: the endpoint's own defaults). */
  tokenEndpoint?: TokenServiceOptions["endpoint"];
}

export function assembleApiDeps(services: Services, settings: ApiSettings, log: Logger, options: ApiDepsOptions = {}): { deps: AppDeps; close(): Promise<void> } {
  // Test-sends use the same token cache, shared in Redis, as the workers.
  const tokenService = createTokenService({ redis: services.redis, keys: services.keys, masterKey: settings.masterKey, allowPrivateTargets: settings.allowPrivateTargets, log, endpoint: options.tokenEndpoint });
  const deps: AppDeps = {
    log,
    redis: services.redis,
    producer: services.producer,
    store: services.store,
    adminToken: settings.adminToken,
    allowPrivateTargets: settings.allowPrivateTargets,
    metrics: options.metrics,
    devInbox: options.devInbox,
    rotateKeys: () => rotateMasterKey({ redis: services.redis, keys: services.keys, masterKey: settings.masterKey, store: services.store }),
    mailboxes: new MailboxAdmin(services.redis, services.keys, settings.masterKey, services.producer.queue, log),
    testing: {
      masterKey: settings.masterKey,
      xoauth2: new XOAuth2(tokenService.tokens, settings.masterKey),
      defaultConfig: defaultServerConfig(settings),
      tuning: { blockPrivateTargets: !settings.allowPrivateTargets, sendTimeoutMs: settings.sendTimeoutMs, ...options.tuning },
    },
  };
  return { deps, close: () => tokenService.close() };
}
