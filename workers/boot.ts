// Start-up shared by every entry point: settings, logger, Redis (found or started), and a
// single place that turns SIGTERM/SIGINT into an orderly shutdown. Start-up errors are one
// clear line and a non-zero exit, never a stack trace.
import { loadSettings, ConfigError, type Settings } from "../src/config.ts";
import { MasterKeyError } from "../src/crypto/master-key.ts";
import { createLogger, wantsPrettyLogs, type Logger } from "../src/log.ts";
import { loadEnvFile, reportEnvFile, type EnvFileResult } from "../src/env-file.ts";
import { ensureRedis, redactUrl, RedisUnavailableError } from "../src/redis.ts";
import { openServices, type Services } from "../src/services.ts";
import { createMetrics, type Metrics } from "../src/metrics.ts";

export interface Booted {
  settings: Settings;
  log: Logger;
  services: Services;
  metrics: Metrics;
  /** Registers a step to run on shutdown; steps run in reverse order of registration. */
  onShutdown(step: () => Promise<void>): void;
}

export async function boot(role: string): Promise<Booted> {
  let settings: Settings;
  let envFile: EnvFileResult | undefined;
  try {
    envFile = loadEnvFile();
    settings = loadSettings();
  } catch (err) {
    return fatal(err);
  }
  const log = createLogger({ level: settings.logLevel, pretty: wantsPrettyLogs(settings.production) }).child({ role });
  if (envFile) reportEnvFile(log, envFile);
  const steps: (() => Promise<void>)[] = [];
  let redis;
  try {
    redis = await ensureRedis({ url: settings.redisUrl, urlExplicit: settings.redisUrlExplicit, production: settings.production, log });
  } catch (err) {
    return fatal(err);
  }
  steps.push(redis.stop);
  settings = { ...settings, redisUrl: redis.url };
  if (settings.masterKeySource === "generated") log.warn({ file: `${settings.dataDir}/master.key` }, "generated a development master key (set NOTIFY_MASTER_KEY in production)");
  const services = openServices(settings, log);
  steps.push(() => services.close());
  const metrics = createMetrics();
  metrics.trackQueue(services.producer.queue);
  log.info({ redis: redactUrl(settings.redisUrl), prefix: settings.prefix, production: settings.production }, "connected to Redis");

  onStopSignal((signal, repeated) => {
    if (repeated) {
      // npm, tsx and a terminal's Ctrl-C each pass the signal on: the drain is already under way.
      log.debug({ signal }, "already shutting down");
      return;
    }
    log.info({ signal }, "shutting down");
    // The worker's drain has its own grace (25 s); this bounds everything else (a Redis that
    // is away, a hung HTTP keep-alive) so that the process is out before Docker's 30 s SIGKILL.
    setTimeout(() => {
      log.warn("shutdown did not finish within 28 s; exiting now");
      log.flush(() => process.exit(0));
    }, 28_000).unref();
    void (async () => {
      for (const step of steps.reverse()) {
        await step().catch((err: unknown) => log.error({ err }, "shutdown step failed"));
      }
      log.info("stopped");
      // pino writes asynchronously: let the last lines reach stdout before the exit.
      log.flush(() => process.exit(0));
    })();
  });
  return { settings, log, services, metrics, onShutdown: (step) => steps.push(step) };
}

/**
 * SIGTERM and SIGINT, however many and from wherever (the process, its group, npm or tsx
 * relaying them): `handler` runs for each, told whether a drain has already started. The
 * listeners stay installed for the whole life of the process: with `once`, the second copy
 * of a signal that a process group receives would find no listener and kill the process.
 */
export function onStopSignal(handler: (signal: NodeJS.Signals, repeated: boolean) => void): void {
  let started = false;
  const on = (signal: NodeJS.Signals) => {
    handler(signal, started);
    started = true;
  };
  process.on("SIGTERM", on);
  process.on("SIGINT", on);
}

function fatal(err: unknown): never {
  const known = err instanceof ConfigError || err instanceof MasterKeyError || err instanceof RedisUnavailableError;
  process.stderr.write(`notify-smtp: ${known ? (err as Error).message : `could not start: ${(err as Error).message}`}\n`);
  process.exit(1);
}
