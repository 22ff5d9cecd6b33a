// A worker process that dies at the worst moment: right after a server answered 250 and the
// 250 marker was written, before BullMQ could move the job to completed. It boots like
// workers/email-worker.ts and starts delivery the same way, but hands it a `SentMarkers` whose
// `set()` ends the process with SIGKILL (no shutdown hooks, no lock release, no completion).
//
// Run as a child process: `node --import tsx test/helpers/crash-worker.ts` with a harness's
// childEnv. Short BullMQ lock timings (lockDuration 1 s, stalledInterval 0.5 s) so another
// worker recovers the stalled job quickly; override with CRASH_WORKER_LOCK_MS /
// CRASH_WORKER_STALLED_MS.
import { writeSync } from "node:fs";
import { boot } from "../../workers/boot.ts";
import { startDelivery } from "../../src/delivery/start.ts";
import { SentMarkers } from "../../src/delivery/sent-markers.ts";
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
// No `ca` here: like production, the child trusts the test CA through NODE_EXTRA_CA_CERTS.
const delivery = await startDelivery(services, settings, log, {
  markers: new CrashAfterMarker(services.redis, services.keys),
  bullmq: { lockDuration, stalledInterval },
});
onShutdown(() => delivery.stop());
