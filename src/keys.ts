// Every Redis key and channel name the product uses, in one place. All start with the
// deployment prefix (default `{notify}`), whose hash tag keeps them in one Cluster slot.

export const QUEUE_NAME = "emails";

export interface Keys {
  /** BullMQ's prefix: its keys become `<prefix>:emails:…`. */
  readonly bullPrefix: string;
  /** Hash: projectId → sealed SMTP config. */
  readonly smtpConfigs: string;
  /** Pub/sub channel: a projectId whose config changed. */
  readonly smtpConfigChanged: string;
  /** String: the send result of a job whose message a server accepted (the 250 marker). */
  sent(jobId: string): string;
  /** String: a sealed access token. */
  token(id: string): string;
  /** String: the lock of the replica that is fetching a token. */
  tokenLock(id: string): string;
  /** String: a permanent token error, remembered briefly so a broken config is not retried per job. */
  tokenError(id: string): string;
  /** Set: the token cache ids of a project, so a config change can drop them all. */
  tokenIndex(projectId: string): string;
  /** String with a TTL: the SMTP URL of a running development inbox, for workers started without DEFAULT_SMTP_URL. */
  readonly devInbox: string;
  /** Hash: a mailbox's shared state (rate, day count, throttle, AIMD cap, breaker). See src/mailbox/. */
  mailbox(mailboxId: string): string;
  /** Sorted set: the connection slots of a mailbox, holder → expiry (ms). */
  mailboxSlots(mailboxId: string): string;
  /** Sorted set: jobs waiting for one of a mailbox's slots, job id → when it started waiting. */
  mailboxSlotWaiters(mailboxId: string): string;
  /** Hash: jobs waiting for a mailbox's breaker, job id → project id (promoted when it closes). */
  mailboxBreakerWaiters(mailboxId: string): string;
  /** Hash: why a job is delayed and how long it has waited in all (src/delivery/wait.ts). */
  jobWait(jobId: string): string;
}

export function createKeys(prefix: string): Keys {
  return {
    bullPrefix: prefix,
    smtpConfigs: `${prefix}:smtp-config`,
    smtpConfigChanged: `${prefix}:smtp-config:changed`,
    sent: (jobId) => `${prefix}:sent:${jobId}`,
    token: (id) => `${prefix}:token:${id}`,
    tokenLock: (id) => `${prefix}:token-lock:${id}`,
    tokenError: (id) => `${prefix}:token-error:${id}`,
    tokenIndex: (projectId) => `${prefix}:token-index:${projectId}`,
    devInbox: `${prefix}:dev-inbox`,
    mailbox: (id) => `${prefix}:mailbox:${id}`,
    mailboxSlots: (id) => `${prefix}:mailbox:${id}:slots`,
    mailboxSlotWaiters: (id) => `${prefix}:mailbox:${id}:slot-waiters`,
    mailboxBreakerWaiters: (id) => `${prefix}:mailbox:${id}:breaker-waiters`,
    jobWait: (jobId) => `${prefix}:wait:${jobId}`,
  };
}
