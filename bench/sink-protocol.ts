// What bench/run.ts and its SMTP sink child (bench/sink.ts) say to each other over IPC.

/** The password credentials the sink accepts (PLAIN/LOGIN): user `bench` or `bench-<n>`. */
export const SINK_USER = "bench";
export const SINK_PASS = "bench-pass";
export const isSinkUser = (user: string | undefined) => user === SINK_USER || (user?.startsWith(`${SINK_USER}-`) ?? false);

export type ToSink =
  /** First message: the TLS material for STARTTLS and the key XOAUTH2 tokens are checked with. */
  | { type: "init"; key: string; cert: string; tokenKey: string }
  /** Answer `reached` as soon as the sink has counted `n` messages in total. */
  | { type: "target"; n: number }
  /** Answer `stats` now. */
  | { type: "stats" }
  /** From now on, note when the 250 went out for each recipient that starts with `prefix` (null: stop). */
  | { type: "record"; prefix: string | null }
  /** Answer `times` with what was noted, and forget it. */
  | { type: "times" };

export type FromSink =
  /** `plainPort`: no STARTTLS, AUTH in the clear; `tlsPort`: STARTTLS offered, AUTH only after it. */
  | { type: "ready"; plainPort: number; tlsPort: number }
  /** Pushed every 250 ms while the count changes (stall detection). */
  | { type: "progress"; count: number }
  | { type: "reached"; count: number }
  /** `cpuMicros`: the sink's own user + system CPU time so far; `refusedLogins` should stay 0. */
  | { type: "stats"; count: number; cpuMicros: number; connections: number; refusedLogins: number }
  /** [recipient, ms on the monotonic clock (process.hrtime, the same in every process)] per 250. */
  | { type: "times"; entries: [string, number][] };
