// Builds the HTTP app from the booted services and listens; shared by api.ts and main.ts.
import { buildApp } from "../src/http/app.ts";
import type { DevInbox } from "../src/dev-inbox/inbox.ts";
import type { Booted } from "./boot.ts";
import { createTokenService } from "../src/oauth/token-service.ts";
import { XOAuth2 } from "../src/delivery/xoauth2.ts";
import { defaultServerConfig } from "../src/smtp-config/default-server.ts";

export async function startApi(booted: Booted, extras: { devInbox?: DevInbox }): Promise<string> {
  const { settings, log, services, metrics, onShutdown } = booted;
  // Test-sends use the same shared token cache as the workers.
  const tokenService = createTokenService({ redis: services.redis, keys: services.keys, masterKey: settings.masterKey, allowPrivateTargets: settings.allowPrivateTargets, log });
  onShutdown(() => tokenService.close());
  const app = await buildApp({
    log,
    redis: services.redis,
    producer: services.producer,
    store: services.store,
    adminToken: settings.adminToken,
    allowPrivateTargets: settings.allowPrivateTargets,
    devInbox: extras.devInbox,
    metrics,
    testing: { masterKey: settings.masterKey, xoauth2: new XOAuth2(tokenService.tokens, settings.masterKey), defaultConfig: defaultServerConfig(settings), tuning: { blockPrivateTargets: !settings.allowPrivateTargets } },
  });
  try {
    await app.listen({ host: settings.host, port: settings.port });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    process.stderr.write(`notify-smtp: cannot listen on ${settings.host}:${settings.port}${code === "EADDRINUSE" ? " (the port is in use: set PORT)" : `: ${(err as Error).message}`}\n`);
    process.exit(1);
  }
  onShutdown(() => app.close());
  const shownHost = settings.host === "0.0.0.0" || settings.host === "::" ? "localhost" : settings.host;
  const base = `http://${shownHost}:${settings.port}`;
  log.info({ url: base }, "API listening");
  return base;
}
