// Refused admin credentials, counted per client address in this process's memory: after
// `maxFailures` in one window the address gets 429 (with Retry-After) until the window ends,
// whatever it sends, so guessing is capped at `maxFailures` per window. What happened is
// logged as one warn line per window with counts, never one line per attempt (an attack must
// not become a log flood), and never with what was presented.
import { isIPv6 } from "node:net";
import type { Logger } from "../log.ts";

export interface AuthThrottleOptions {
  log: Logger;
  /** Refused attempts per address in one window before it is answered 429. Default 10. */
  maxFailures?: number;
  /** Window length in ms; also how often the summary line is written. Default 60000. */
  windowMs?: number;
  /** Addresses tracked at once; the least recently seen is forgotten first. Default 10000. */
  maxAddresses?: number;
  /** Clock, for tests. Default Date.now. */
  now?: () => number;
}

interface Entry {
  windowStart: number;
  /** Refused attempts in the current window (what the limit counts). */
  failures: number;
  /** Since the last summary line. */
  refused: number;
  throttled: number;
}

/** How many addresses a summary line names; the rest are in the totals. */
const TOP = 5;

export class AuthThrottle {
  private readonly entries = new Map<string, Entry>();
  private readonly maxFailures: number;
  private readonly windowMs: number;
  private readonly maxAddresses: number;
  private readonly now: () => number;
  private readonly timer: NodeJS.Timeout;
  /** Counts of addresses forgotten (to bound memory) before their summary was written. */
  private forgotten = { addresses: 0, refused: 0, throttled: 0 };

  constructor(private readonly options: AuthThrottleOptions) {
    this.maxFailures = options.maxFailures ?? 10;
    this.windowMs = options.windowMs ?? 60_000;
    this.maxAddresses = options.maxAddresses ?? 10_000;
    this.now = options.now ?? Date.now;
    this.timer = setInterval(() => this.flush(), this.windowMs);
    this.timer.unref();
  }

  /** Milliseconds until `address` may try again; 0 when it is not throttled. */
  retryAfterMs(address: string): number {
    const entry = this.current(clientKey(address));
    if (!entry || entry.failures < this.maxFailures) return 0;
    return Math.max(1, entry.windowStart + this.windowMs - this.now());
  }

  /** A request from a throttled address was answered 429. */
  throttled(address: string): void {
    const entry = this.touch(clientKey(address));
    entry.throttled++;
  }

  /** Credentials from `address` were refused. */
  failed(address: string): void {
    const entry = this.touch(clientKey(address));
    entry.failures++;
    entry.refused++;
  }

  /** The right token: the address starts afresh (its unlogged counts still get logged). */
  succeeded(address: string): void {
    const key = clientKey(address);
    const entry = this.entries.get(key);
    if (!entry) return;
    if (entry.refused === 0 && entry.throttled === 0) this.entries.delete(key);
    else entry.failures = 0;
  }

  /** Writes the summary of what was refused since the last one (nothing when nothing was). */
  flush(): void {
    const now = this.now();
    const rows: { remoteAddress: string; refused: number; throttled: number }[] = [];
    for (const [key, entry] of this.entries) {
      if (entry.refused > 0 || entry.throttled > 0) rows.push({ remoteAddress: key, refused: entry.refused, throttled: entry.throttled });
      entry.refused = 0;
      entry.throttled = 0;
      if (entry.windowStart + this.windowMs <= now) this.entries.delete(key);
    }
    const forgotten = this.forgotten;
    this.forgotten = { addresses: 0, refused: 0, throttled: 0 };
    if (rows.length === 0 && forgotten.addresses === 0) return;
    const sum = (field: "refused" | "throttled") => rows.reduce((n, row) => n + row[field], 0) + forgotten[field];
    rows.sort((a, b) => b.refused + b.throttled - (a.refused + a.throttled));
    this.options.log.warn(
      {
        event: "admin_auth_refused",
        refused: sum("refused"),
        throttled: sum("throttled"),
        addresses: rows.length + forgotten.addresses,
        top: rows.slice(0, TOP),
        windowMs: this.windowMs,
        maxFailures: this.maxFailures,
      },
      "admin credentials refused (counts since the last summary; throttled = answered 429)",
    );
  }

  /** Writes the last summary and stops the timer. */
  close(): void {
    clearInterval(this.timer);
    this.flush();
  }

  /** The entry with its window still open, else undefined. */
  private current(key: string): Entry | undefined {
    const entry = this.entries.get(key);
    if (entry && entry.windowStart + this.windowMs <= this.now()) entry.failures = 0;
    return entry;
  }

  private touch(key: string): Entry {
    const now = this.now();
    let entry = this.entries.get(key);
    if (entry) {
      // Most recently seen last, so the first in the map is the one to forget.
      this.entries.delete(key);
      if (entry.windowStart + this.windowMs <= now) Object.assign(entry, { windowStart: now, failures: 0 });
    } else {
      entry = { windowStart: now, failures: 0, refused: 0, throttled: 0 };
    }
    this.entries.set(key, entry);
    if (this.entries.size > this.maxAddresses) this.forgetOldest();
    return entry;
  }

  private forgetOldest(): void {
    const [key, entry] = this.entries.entries().next().value as [string, Entry];
    this.entries.delete(key);
    if (entry.refused > 0 || entry.throttled > 0) {
      this.forgotten.addresses++;
      this.forgotten.refused += entry.refused;
      this.forgotten.throttled += entry.throttled;
    }
  }
}

/**
 * What counts as one client: an IPv4 address (also when IPv4-mapped), or an IPv6 /64, since
 * one host commonly holds a whole /64 and could otherwise rotate through it.
 */
export function clientKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (!isIPv6(address)) return address;
  const [head = "", tail = ""] = address.toLowerCase().split("::", 2);
  const left = head ? head.split(":") : [];
  const right = address.includes("::") ? (tail ? tail.split(":") : []) : [];
  const groups = address.includes("::") ? [...left, ...Array<string>(8 - left.length - right.length).fill("0"), ...right] : left;
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, "")).join(":")}::/64`;
}
