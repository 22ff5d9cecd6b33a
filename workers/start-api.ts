// Builds the HTTP app from the booted services and listens; shared by api.ts and main.ts.
import { buildApp } from "../src/http/app.ts";
import type { DevInbox } from "../src/dev-inbox/inbox.ts";
import type { Booted } from "./boot.ts";
import { assembleApiDeps } from "../src/http/api-deps.ts";

export async function startApi(booted: Booted, extras: { devInbox?: DevInbox }): Promise<string> {
  const { settings, log, services, metrics, onShutdown } = booted;
  const api = assembleApiDeps(services, settings, log, { metrics, devInbox: extras.devInbox });
  onShutdown(() => api.close());
  const app = await buildApp(api.deps);
  try {
    await app.listen({ host: settings.host, port: settings.port });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    process.stderr.write(`notify-smtp: cannot listen on ${settings.host}:${settings.port}${code === "EADDRINUSE" ? " (the port is in use: set PORT)" : `: ${(err as Error).message}`}\n`);
    process.exit(1);
  }
  onShutdown(() => app.close());
  const shownHost = settings.host === "0.0.0.0" || settings.host === "::" ? "localhost" : settings.host;
  // The bound port, not PORT: PORT=0 asks for any free one.
  const address = app.server.address();
  const base = `http://${shownHost}:${typeof address === "object" && address ? address.port : settings.port}`;
  log.info({ url: base }, "API listening");
  return base;
}
