// Everything a worker process runs, assembled: config resolver (with pub/sub invalidation),
// transport pool, 250 markers and the BullMQ worker. `stop()` closes them in order.
import type { Settings } from "../config.ts";
import type { Logger } from "../log.ts";
import type { Services } from "../services.ts";
import { ConfigResolver } from "../smtp-config/resolver.ts";
import { defaultServerConfig } from "../smtp-config/default-server.ts";
import { TransportPool, transportKey, type TransportPoolOptions } from "./transport-pool.ts";
import { Limiter, type LimiterOptions } from "../mailbox/limiter.ts";
import { Sessions } from "../mailbox/sessions.ts";
import { RenderCache } from "../templates/render-cache.ts";
import { Gate } from "../mailbox/gate.ts";
import { createPromoter } from "../mailbox/promote.ts";
import { WaitBook } from "./wait.ts";
import { SentMarkers } from "./sent-markers.ts";
import { closeWorker, createEmailWorker, type EmailWorker, type EmailWorkerOptions } from "./worker.ts";
import type { DeliveryObserver } from "./observer.ts";
import { XOAuth2 } from "./xoauth2.ts";
import type { TokenCache, TokenObserver } from "../oauth/token-cache.ts";
import { createTokenService, type TokenServiceOptions } from "../oauth/token-service.ts";
import { GraphTransport } from "./transports/graph.ts";

export type DeliverySettings = Pick<Settings, "defaultSmtpUrl" | "defaultFrom" | "masterKey" | "workerConcurrency" | "backoffMs" | "backoffMaxMs" | "allowPrivateTargets" | "sendTimeoutMs" | "throttleMaxMs" | "breakerMaxWaitMs">;

export interface DeliveryOptions {
  transport?: Omit<TransportPoolOptions, "log">;
  observer?: DeliveryObserver;
  tokenObserver?: TokenObserver;
  tokenEndpoint?: TokenServiceOptions["endpoint"];
  /** Token cache tuning (tests shorten the negative cache). */
  tokenCache?: TokenServiceOptions["cache"];
  bullmq?: EmailWorkerOptions["bullmq"];
  /** The 250 markers; default `new SentMarkers(services.redis, services.keys)`. */
  markers?: SentMarkers;
  /** Mailbox limiter tuning (tests shorten slot expiry and the breaker's probe interval). */
  limiter?: LimiterOptions;
  /** How long `stop()` waits for in-flight jobs. Default 25 s (under Docker's 30 s grace). */
  closeGraceMs?: number;
}

export interface Delivery {
  worker: EmailWorker;
  resolver: ConfigResolver;
  transports: TransportPool;
  tokens: TokenCache;
  stop(): Promise<void>;
}

export async function startDelivery(services: Services, settings: DeliverySettings, log: Logger, options: DeliveryOptions = {}): Promise<Delivery> {
  const defaultConfig = defaultServerConfig(settings);
  const resolver = new ConfigResolver({
    store: services.store,
    subscriber: services.connect("subscriber"),
    keys: services.keys,
    masterKey: settings.masterKey,
    defaultConfig,
    log,
  });
  const tokenService = createTokenService({
    redis: services.redis,
    keys: services.keys,
    masterKey: settings.masterKey,
    allowPrivateTargets: settings.allowPrivateTargets,
    log,
    observer: options.tokenObserver,
    endpoint: options.tokenEndpoint,
    cache: options.tokenCache,
  });
  const { tokens } = tokenService;
  const xoauth2 = new XOAuth2(tokens, settings.masterKey);
  // Each mailbox's limits, throttling and breaker, shared with every replica through Redis.
  const limiter = new Limiter(services.redis, services.keys, options.limiter);
  const promote = createPromoter(services.producer.queue, log);
  const sessions = new Sessions({ limiter, log, promote, retire: (key) => transports.retireKey(key) });
  const transports = new TransportPool({ blockPrivateTargets: !settings.allowPrivateTargets, sendTimeoutMs: settings.sendTimeoutMs, ...options.transport, log, xoauth2, admission: (key) => sessions.admit(key), connectionsAllowed: (key) => sessions.held(key) });
  // Graph configs: same CA, private-target rule and deadline as the SMTP pool.
  const graph = new GraphTransport({ blockPrivateTargets: !settings.allowPrivateTargets, sendTimeoutMs: settings.sendTimeoutMs, ...options.transport });
  const gate = new Gate({
    limiter, sessions, promote, log, masterKey: settings.masterKey, observer: options.observer, transportKey,
    // An SMTP pool queues sends on its connections; every Graph request is a slot of its own.
    pooledConnections: (resolved) => (resolved.config.transport === "graph" ? 0 : transports.maxConnections(resolved)),
    waits: new WaitBook(services.redis, services.keys, { throttleMaxMs: settings.throttleMaxMs, breakerMaxWaitMs: settings.breakerMaxWaitMs }),
    retire: (resolved) => transports.retire(resolved),
  });
  resolver.onChange((projectId) => {
    transports.closeProject(projectId);
    tokens.dropProject(projectId).catch((err: unknown) => log.warn({ err, projectId }, "could not drop cached tokens"));
  });
  await resolver.start();

  const connection = services.connect("worker");
  const markers = options.markers ?? new SentMarkers(services.redis, services.keys, { log, waitReplicas: services.waitReplicas, completion: connection });
  const worker = createEmailWorker({
    connection,
    keys: services.keys,
    deps: { resolver, transports, xoauth2, markers, log, observer: options.observer, gate, graph, renderer: new RenderCache() },
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
    tokens,
    async stop() {
      const outcome = await closeWorker(worker, options.closeGraceMs ?? 25_000, () => markers.abandon());
      if (outcome === "forced") log.warn({ graceMs: options.closeGraceMs ?? 25_000 }, "in-flight jobs did not finish within the shutdown grace; they go back to the queue");
      transports.closeAll();
      await graph.closeAll();
      await sessions.releaseAll();
      await tokenService.close();
    },
  };
}
