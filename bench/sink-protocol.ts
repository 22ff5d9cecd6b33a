// What bench/run.ts and its SMTP sink child (bench/sink.ts) say to each other over IPC.

/** The only credentials the sink accepts (PLAIN/LOGIN). */
export const SINK_USER = "bench";
export const SINK_PASS = "bench-pass";

export type ToSink =
  /** Answer `reached` as soon as the sink has counted `n` messages in total. */
  | { type: "target"; n: number }
  /** Answer `stats` now. */
  | { type: "stats" };

export type FromSink =
  | { type: "ready"; port: number }
  /** Pushed every 250 ms while the count changes (stall detection). */
  | { type: "progress"; count: number }
  | { type: "reached"; count: number }
  /** `cpuMicros`: the sink's own user + system CPU time so far. */
  | { type: "stats"; count: number; cpuMicros: number };
