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

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "shutting down");
    for (const step of steps.reverse()) {
      await step().catch((err: unknown) => log.error({ err }, "shutdown step failed"));
    }
    log.info("stopped");
    process.exit(0);
  };
  process.once("SIGTERM", () => void shutdown("SIGTERM"));
  process.once("SIGINT", () => void shutdown("SIGINT"));
  return { settings, log, services, metrics, onShutdown: (step) => steps.push(step) };
}

function fatal(err: unknown): never {
  const known = err instanceof ConfigError || err instanceof MasterKeyError || err instanceof RedisUnavailableError;
  process.stderr.write(`notify-smtp: ${known ? (err as Error).message : `could not start: ${(err as Error).message}`}\n`);
  process.exit(1);
}
