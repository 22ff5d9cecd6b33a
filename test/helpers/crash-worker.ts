// A worker process that dies at the worst moment: right after a server answered 250 and the
// 250 marker was written, before BullMQ could move the job to completed. It boots like
// workers/email-worker.ts (same settings, logger, Redis and services) but builds the BullMQ
// worker itself with `createEmailWorker`, so it can hand the deliverer a `SentMarkers` whose
// `set()` ends the process with SIGKILL (no shutdown hooks, no lock release, no completion).
//
// Run as a child process: `node --import tsx test/helpers/crash-worker.ts` with a harness's
// childEnv. Short BullMQ lock timings (lockDuration 1 s, stalledInterval 0.5 s) so another
// worker recovers the stalled job quickly; override with CRASH_WORKER_LOCK_MS /
// CRASH_WORKER_STALLED_MS.
import { writeSync } from "node:fs";
import { boot } from "../../workers/boot.ts";
import { ConfigResolver } from "../../src/smtp-config/resolver.ts";
import { parseFrom, parseSmtpUrl } from "../../src/smtp-config/default-server.ts";
import { TransportPool } from "../../src/delivery/transport-pool.ts";
import { SentMarkers } from "../../src/delivery/sent-markers.ts";
import { createEmailWorker } from "../../src/delivery/worker.ts";
import { XOAuth2 } from "../../src/delivery/xoauth2.ts";
import { TokenCache } from "../../src/oauth/token-cache.ts";
import { TokenEndpoint } from "../../src/oauth/token-endpoint.ts";
import { fetchToken } from "../../src/oauth/grants.ts";
import type { SendResult } from "../../src/jobs/contracts.ts";
// Only constants from child-worker.ts: this script must not be imported by tests (it boots).
import { CRASH_MESSAGE } from "./child-worker.ts";

class CrashAfterMarker extends SentMarkers {
  override async set(jobId: string, result: SendResult): Promise<void> {
    await super.set(jobId, result);
    // A pino-shaped line written with writeSync: pino's stdout stream is asynchronous, so a
    // line logged through it just before SIGKILL may never reach the pipe.
    const line = { level: 40, time: Date.now(), pid: process.pid, role: "crash-worker", jobId, messageId: result.messageId, msg: CRASH_MESSAGE };
    writeSync(1, `${JSON.stringify(line)}\n`);
    process.kill(process.pid, "SIGKILL");
  }
}

const lockDuration = Number(process.env.CRASH_WORKER_LOCK_MS ?? 1000);
const stalledInterval = Number(process.env.CRASH_WORKER_STALLED_MS ?? 500);

const { settings, log, services, onShutdown } = await boot("crash-worker");

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
// The same assembly as src/delivery/startDelivery, except for the markers.
const endpoint = new TokenEndpoint({ blockPrivateTargets: !settings.allowPrivateTargets });
const tokens = new TokenCache({
  redis: services.redis,
  keys: services.keys,
  masterKey: settings.masterKey,
  fetch: (spec) => fetchToken(endpoint, spec),
  log,
});
const xoauth2 = new XOAuth2(tokens, settings.masterKey);
// No `ca` here: like production, the child trusts the test CA through NODE_EXTRA_CA_CERTS.
const transports = new TransportPool({ log, xoauth2 });
resolver.onChange((projectId) => {
  transports.closeProject(projectId);
  tokens.dropProject(projectId).catch((err: unknown) => log.warn({ err, projectId }, "could not drop cached tokens"));
});
await resolver.start();

const worker = createEmailWorker({
  connection: services.connect("worker"),
  keys: services.keys,
  deps: { resolver, transports, xoauth2, markers: new CrashAfterMarker(services.redis, services.keys), log },
  concurrency: settings.workerConcurrency,
  backoff: { baseMs: settings.backoffMs, maxMs: settings.backoffMaxMs },
  log,
  bullmq: { lockDuration, stalledInterval },
});
await worker.waitUntilReady();
onShutdown(async () => {
  await worker.close();
  transports.closeAll();
  await endpoint.close();
});
log.info({ concurrency: settings.workerConcurrency, lockDuration, stalledInterval }, "email worker started");
