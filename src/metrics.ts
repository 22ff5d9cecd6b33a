// Prometheus metrics on a registry of our own (no global state): delivery outcomes, send
// durations, retries, token requests and cache behaviour, pooled transports, queue depth, and
// Node's default process metrics. The observers that delivery and the token cache report to
// are implemented here.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { DeliveryObserver } from "./delivery/observer.ts";
import type { TokenObserver } from "./oauth/token-cache.ts";
import type { EmailQueue } from "./queue.ts";

export interface Metrics {
  registry: Registry;
  delivery: DeliveryObserver;
  tokens: TokenObserver;
  /** Report the number of open pooled transports on every scrape. */
  trackTransports(size: () => number): void;
  /** Report queue depth by state on every scrape. */
  trackQueue(queue: EmailQueue): void;
}

const QUEUE_STATES = ["waiting", "prioritized", "active", "delayed", "failed", "completed"] as const;

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  const sent = new Counter({ name: "notify_emails_sent_total", help: "Emails a server accepted (250), by type", labelNames: ["type"], registers: [registry] });
  const failed = new Counter({
    name: "notify_email_failures_total",
    help: "Failed send attempts, by type, stage and whether the job will retry",
    labelNames: ["type", "stage", "outcome"],
    registers: [registry],
  });
  const retries = new Counter({ name: "notify_email_retries_total", help: "Send attempts that failed and will be retried", labelNames: ["type"], registers: [registry] });
  const duration = new Histogram({
    name: "notify_email_send_duration_seconds",
    help: "Time from picking up a job to the server's 250",
    labelNames: ["type"],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  // Sending limits (src/mailbox/): labels never carry an address, only the keyed mailbox id.
  const waits = new Counter({ name: "notify_job_waits_total", help: "Jobs moved to delayed instead of sending, by reason (rate_limit, throttled, breaker_open, backoff); no attempt used", labelNames: ["reason"], registers: [registry] });
  const throttles = new Counter({ name: "notify_throttle_events_total", help: "Throttling replies from servers (432 4.3.2, 421/450 4.7.x, 454 4.7.0, 429), by reply code", labelNames: ["code"], registers: [registry] });
  const breakerOpen = new Gauge({ name: "notify_breaker_open", help: "1 while this process has seen the mailbox's circuit breaker open, 0 once it closed (mailbox = keyed hash of the sending identity)", labelNames: ["mailbox"], registers: [registry] });
  const tokenRequests = new Counter({ name: "notify_token_requests_total", help: "Requests to OAuth token endpoints, by outcome", labelNames: ["outcome"], registers: [registry] });
  const tokenCache = new Counter({ name: "notify_token_cache_total", help: "Token cache lookups: hit (in memory), miss, wait (another worker was fetching)", labelNames: ["result"], registers: [registry] });

  let transportsSize: (() => number) | undefined;
  new Gauge({
    name: "notify_smtp_pooled_transports",
    help: "Open pooled SMTP transports (one per project config)",
    registers: [registry],
    collect() {
      this.set(transportsSize?.() ?? 0);
    },
  });
  let trackedQueue: EmailQueue | undefined;
  new Gauge({
    name: "notify_queue_jobs",
    help: "Jobs in the email queue, by state",
    labelNames: ["state"],
    registers: [registry],
    async collect() {
      if (!trackedQueue) return;
      const counts = await trackedQueue.getJobCounts(...QUEUE_STATES);
      for (const state of QUEUE_STATES) this.set({ state }, counts[state] ?? 0);
    },
  });

  // Once per delivered email: each type's labelled children are looked up once (prom-client
  // hashes the label object on every call otherwise).
  const sentByType = new Map<string, { count: Counter.Internal; duration: Histogram.Internal<string> }>();

  return {
    registry,
    delivery: {
      sent(type, seconds) {
        let children = sentByType.get(type);
        if (!children) sentByType.set(type, (children = { count: sent.labels({ type }), duration: duration.labels({ type }) }));
        children.count.inc();
        children.duration.observe(seconds);
      },
      failed(type, err, willRetry) {
        failed.inc({ type, stage: err.stage, outcome: willRetry ? "retry" : "final" });
        if (willRetry) retries.inc({ type });
      },
      waited: (reason) => waits.inc({ reason }),
      throttled: (code) => throttles.inc({ code }),
      breaker: (mailbox, open) => breakerOpen.set({ mailbox }, open ? 1 : 0),
    },
    tokens: {
      hit: () => tokenCache.inc({ result: "hit" }),
      miss: () => tokenCache.inc({ result: "miss" }),
      wait: () => tokenCache.inc({ result: "wait" }),
      request: (outcome) => tokenRequests.inc({ outcome }),
    },
    trackTransports(size) {
      transportsSize = size;
    },
    trackQueue(queue) {
      trackedQueue = queue;
    },
  };
}
