// Where a running development inbox can be found. `npm start` and `npm run api` (outside
// production, without DEFAULT_SMTP_URL) publish their inbox's SMTP URL in Redis; a worker
// started the same way reads it, so the README's "api + N workers" recipe delivers somewhere.
// Only the URL is shared (no secrets: the inbox takes any login), under a short TTL refreshed
// while the process lives, so a crashed API's entry goes away on its own.
import { connect } from "node:net";
import type { Redis } from "ioredis";
import type { Keys } from "../keys.ts";

export interface PublishedDevInbox {
  /** Stops refreshing and removes the entry if it is still ours. */
  stop(): Promise<void>;
}

export interface PublishOptions {
  /** Entry lifetime; refreshed at a third of it. Default 30 s. */
  ttlMs?: number;
}

export async function publishDevInbox(redis: Redis, keys: Pick<Keys, "devInbox">, url: string, options: PublishOptions = {}): Promise<PublishedDevInbox> {
  const ttlMs = options.ttlMs ?? 30_000;
  await redis.set(keys.devInbox, url, "PX", ttlMs);
  const timer = setInterval(() => {
    // A refresh that fails (Redis restarting) is retried on the next tick; the TTL covers the gap.
    redis.set(keys.devInbox, url, "PX", ttlMs).catch(() => {});
  }, Math.max(100, Math.floor(ttlMs / 3)));
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      // Only our own entry: a second API may have published its inbox since.
      const current = await redis.get(keys.devInbox).catch(() => null);
      if (current === url) await redis.del(keys.devInbox).catch(() => {});
    },
  };
}

/** The published inbox's URL when one is registered and its SMTP port answers; else undefined. */
export async function findDevInbox(redis: Redis, keys: Pick<Keys, "devInbox">, probeTimeoutMs = 1000): Promise<string | undefined> {
  const url = await redis.get(keys.devInbox);
  if (!url) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  const host = parsed.hostname.replace(/^\[|\]$/g, "");
  return (await answers(host, Number(parsed.port), probeTimeoutMs)) ? url : undefined;
}

function answers(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}
