// Everything a worker process runs, assembled: config resolver (with pub/sub invalidation),
// transport pool, 250 markers and the BullMQ worker. `stop()` closes them in order.
import type { Settings } from "../config.ts";
import type { Logger } from "../log.ts";
import type { Services } from "../services.ts";
import { ConfigResolver } from "../smtp-config/resolver.ts";
import { parseFrom, parseSmtpUrl } from "../smtp-config/default-server.ts";
import { TransportPool, type TransportPoolOptions } from "./transport-pool.ts";
import { SentMarkers } from "./sent-markers.ts";
import { closeWorker, createEmailWorker, type EmailWorker, type EmailWorkerOptions } from "./worker.ts";
import type { DeliveryObserver } from "./observer.ts";

export type DeliverySettings = Pick<Settings, "defaultSmtpUrl" | "defaultFrom" | "masterKey" | "workerConcurrency" | "backoffMs" | "backoffMaxMs">;

export interface DeliveryOptions {
  transport?: Omit<TransportPoolOptions, "log">;
  observer?: DeliveryObserver;
  bullmq?: EmailWorkerOptions["bullmq"];
  /** How long `stop()` waits for in-flight jobs. Default 25 s (under Docker's 30 s grace). */
  closeGraceMs?: number;
}

export interface Delivery {
  worker: EmailWorker;
  resolver: ConfigResolver;
  transports: TransportPool;
  stop(): Promise<void>;
}

export async function startDelivery(services: Services, settings: DeliverySettings, log: Logger, options: DeliveryOptions = {}): Promise<Delivery> {
  const from = parseFrom(settings.defaultFrom);
  const defaultConfig = settings.defaultSmtpUrl ? { ...parseSmtpUrl(settings.defaultSmtpUrl, from.fromEmail), ...(from.fromName ? { fromName: from.fromName } : {}) } : null;
  const resolver = new ConfigResolver({
    store: services.store,
    subscriber: services.connect("subscriber"),
    keys: services.keys,
    masterKey: settings.masterKey,
    defaultConfig,
    log,
  });
  const transports = new TransportPool({ ...options.transport, log });
  resolver.onChange((projectId) => transports.closeProject(projectId));
  await resolver.start();

  const worker = createEmailWorker({
    connection: services.connect("worker"),
    keys: services.keys,
    deps: { resolver, transports, markers: new SentMarkers(services.redis, services.keys), log, observer: options.observer },
    concurrency: settings.workerConcurrency,
    backoff: { baseMs: settings.backoffMs, maxMs: settings.backoffMaxMs },
    log,
    bullmq: options.bullmq,
  });
  await worker.waitUntilReady();
  log.info({ concurrency: settings.workerConcurrency, defaultServer: defaultConfig ? `${defaultConfig.host}:${defaultConfig.port}` : null }, "email worker started");

  return {
    worker,
    resolver,
    transports,
    async stop() {
      await closeWorker(worker, options.closeGraceMs ?? 25_000);
      transports.closeAll();
    },
  };
}
