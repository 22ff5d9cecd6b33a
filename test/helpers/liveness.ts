// Is the process still responsive while a peer misbehaves? Samples the event loop's delay
// (perf_hooks histogram plus a 20 ms interval's own lateness) and, when given an app, times
// `/healthz` through `inject` every 50 ms. `stop()` returns the worst figures seen.
import { monitorEventLoopDelay } from "node:perf_hooks";
import type { FastifyInstance } from "fastify";

export interface LivenessReport {
  /** Worst event-loop delay seen, ms. */
  maxLoopDelayMs: number;
  /** Slowest `/healthz` answer, ms (0 when no app was given). */
  maxHealthzMs: number;
  /** `/healthz` answers that were not 200. */
  healthzFailures: number;
  /** How many `/healthz` probes answered. */
  healthzProbes: number;
}

export interface Liveness {
  stop(): Promise<LivenessReport>;
}

export function watchLiveness(app?: FastifyInstance): Liveness {
  const histogram = monitorEventLoopDelay({ resolution: 10 });
  histogram.enable();
  let maxLate = 0;
  let expected = performance.now() + 20;
  const ticker = setInterval(() => {
    const now = performance.now();
    maxLate = Math.max(maxLate, now - expected);
    expected = now + 20;
  }, 20);
  let maxHealthzMs = 0;
  let failures = 0;
  let probes = 0;
  let inFlight: Promise<void> = Promise.resolve();
  const prober = app
    ? setInterval(() => {
        inFlight = (async () => {
          const t = performance.now();
          const res = await app.inject({ method: "GET", url: "/healthz" });
          maxHealthzMs = Math.max(maxHealthzMs, performance.now() - t);
          probes++;
          if (res.statusCode !== 200) failures++;
        })();
      }, 50)
    : undefined;
  return {
    async stop() {
      clearInterval(ticker);
      if (prober) clearInterval(prober);
      await inFlight;
      histogram.disable();
      return {
        maxLoopDelayMs: Math.max(maxLate, histogram.max / 1e6 - 10),
        maxHealthzMs,
        healthzFailures: failures,
        healthzProbes: probes,
      };
    },
  };
}
