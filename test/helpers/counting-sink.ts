// An SMTP server that counts deliveries per recipient the way a sender's guarantee is judged:
// a message counts as delivered only if the server could still answer it with 250 (its
// client was there to hear it). It waits `delayMs` before every 250, so that many messages are
// in flight at once, and says how many are. No authentication; STARTTLS with the test CA.
import type { AddressInfo } from "node:net";
import { SMTPServer } from "smtp-server";
import { testCerts } from "./certs.ts";

export interface CountingSink {
  port: number;
  /** Delay before each 250; assignable. */
  delayMs: number;
  /** Messages whose DATA arrived and whose 250 has not gone out yet. */
  readonly inFlight: number;
  /** The most messages in flight at once so far. */
  readonly maxInFlight: number;
  /** Messages answered 250 to a client that was still connected. */
  readonly delivered: number;
  /** Messages whose client hung up before their 250 (not delivered). */
  readonly abandoned: number;
  /** Recipient → times delivered. */
  readonly perRecipient: Map<string, number>;
  /** Recipients delivered more than once. */
  duplicates(): string[];
  waitForDelivered(n: number, timeoutMs?: number): Promise<void>;
  waitForInFlight(n: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startCountingSink(options: { delayMs?: number } = {}): Promise<CountingSink> {
  let delayMs = options.delayMs ?? 0;
  let inFlight = 0;
  let maxInFlight = 0;
  let delivered = 0;
  let abandoned = 0;
  const perRecipient = new Map<string, number>();
  const closedSessions = new Set<string>();
  const certs = testCerts();
  const server = new SMTPServer({
    logger: false,
    key: certs.key,
    cert: certs.cert,
    authOptional: true,
    authMethods: [],
    onClose(session) {
      closedSessions.add(session.id);
    },
    onData(stream, session, callback) {
      stream.on("data", () => {});
      stream.on("end", () => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        const rcpts = session.envelope.rcptTo.map((r) => r.address.toLowerCase());
        setTimeout(() => {
          inFlight--;
          if (closedSessions.has(session.id)) {
            abandoned++;
            return callback(new Error("client gone"));
          }
          delivered++;
          for (const to of rcpts) perRecipient.set(to, (perRecipient.get(to) ?? 0) + 1);
          callback(null);
        }, delayMs);
      });
    },
  });
  server.on("error", () => {});
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.server.address() as AddressInfo).port;

  const waitFor = async (check: () => boolean, what: () => string, timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`timed out: ${what()}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  return {
    port,
    get delayMs() {
      return delayMs;
    },
    set delayMs(ms: number) {
      delayMs = ms;
    },
    get inFlight() {
      return inFlight;
    },
    get maxInFlight() {
      return maxInFlight;
    },
    get delivered() {
      return delivered;
    },
    get abandoned() {
      return abandoned;
    },
    perRecipient,
    duplicates: () => [...perRecipient].filter(([, n]) => n > 1).map(([to]) => to),
    waitForDelivered: (n, timeoutMs = 30_000) => waitFor(() => delivered >= n, () => `${delivered} of ${n} delivered`, timeoutMs),
    waitForInFlight: (n, timeoutMs = 30_000) => waitFor(() => inFlight >= n, () => `${inFlight} of ${n} in flight`, timeoutMs),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/**
 * A config for project `i` that sends to the sink: no auth, STARTTLS, its own sender (so its
 * own mailbox). An IP literal: dozens of parallel look-ups of "localhost" time out on a busy machine.
 */
export function sinkConfig(port: number, i: number): Record<string, unknown> {
  return { host: "127.0.0.1", port, secure: true, fromEmail: `status${i}@acme.test`, fromName: "Acme Status" };
}
