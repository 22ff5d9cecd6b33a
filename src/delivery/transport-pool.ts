// One pooled nodemailer transport per (project, config fingerprint). An edited config has a
// new fingerprint, so an old authenticated connection is never reused for it; the old
// transport is closed when the change is announced, and any transport idle too long is closed.
// Every send has a total deadline (SEND_TIMEOUT_MS): when it passes, the pool drops the
// message and closes the connection that was stuck on it.
import nodemailer, { type Transporter } from "nodemailer";
import type Mail from "nodemailer/lib/mailer";
import type SMTPPool from "nodemailer/lib/smtp-pool";
import type { Stage } from "../errors.ts";
import { DEFAULT_SEND_TIMEOUT_MS, sendTimeoutError } from "./send-deadline.ts";
import type { ResolvedConfig } from "../smtp-config/model.ts";
import type { Logger } from "../log.ts";
import { pooledConnections, transportOptions, type TransportTuning } from "./transport-options.ts";
import type { XOAuth2 } from "./xoauth2.ts";
import type { Socket } from "node:net";
import { connectPublicOnly } from "../net/public-socket.ts";
import { precomposed, sendPrecomposed } from "./precomposed-send.ts";
import { SendAbort } from "./send-abort.ts";

export type PooledTransport = Transporter<SMTPPool.SentMessageInfo, SMTPPool.Options>;

export interface TransportPoolOptions extends TransportTuning {
  log: Logger;
  /** Token provisioning for OAuth configs. */
  xoauth2?: XOAuth2;
  /** Close a transport unused this long. Default 5 min. */
  idleMs?: number;
  /**
   * Asked before every new connection of a transport (by its key, see `transportKey`); the
   * connection opens once it resolves, and calls the function it resolved to once closed.
   * This is how the mailbox's connection slots follow the real sessions (src/mailbox/sessions.ts).
   */
  admission?: (key: string) => Promise<() => void>;
  /**
   * How many connections a transport may have now (by its key): the mailbox slots its process
   * holds. Read by the pool each time it would open a connection, so it queues a message on
   * the connections it has rather than opening one that must wait for a slot with the message
   * in it (for up to the admission timeout, when other replicas hold the mailbox's other
   * slots). Default: the transport's `maxConnections`.
   */
  connectionsAllowed?: (key: string) => number;
}

type GetSocket = NonNullable<SMTPPool.Options["getSocket"]>;

/** The pool key of a config: one transport per (project, config fingerprint). */
export function transportKey(resolved: ResolvedConfig): string {
  return `${resolved.projectId}\u0000${resolved.fingerprint}`;
}

interface Slot {
  projectId: string;
  transport: PooledTransport;
  lastUsed: number;
}

export class TransportPool {
  private readonly slots = new Map<string, Slot>();
  private readonly sweeper: NodeJS.Timeout;
  private readonly idleMs: number;

  constructor(private readonly options: TransportPoolOptions) {
    this.idleMs = options.idleMs ?? 5 * 60_000;
    this.sweeper = setInterval(() => this.closeIdle(), Math.min(this.idleMs, 60_000)).unref();
  }

  get(resolved: ResolvedConfig): PooledTransport {
    const key = transportKey(resolved);
    let slot = this.slots.get(key);
    if (!slot) {
      const oauth = resolved.config.auth?.type === "oauth" ? this.options.xoauth2?.transportAuth(resolved) : undefined;
      const options = transportOptions(resolved, this.options, oauth);
      if (this.options.admission) options.getSocket = admitted(this.options.admission, key, options.getSocket ?? this.plainSocket());
      const transport = nodemailer.createTransport(options);
      if (this.options.connectionsAllowed) capConnections(transport, options.maxConnections ?? 5, () => this.options.connectionsAllowed!(key));
      if (resolved.config.allowInsecureAuth) {
        this.options.log.warn({ projectId: resolved.projectId, host: resolved.config.host }, "allowInsecureAuth: credentials may be sent without TLS");
      }
      slot = { projectId: resolved.projectId, transport, lastUsed: 0 };
      this.slots.set(key, slot);
    }
    slot.lastUsed = Date.now();
    return slot.transport;
  }

  /**
   * Sends one message on the config's pooled transport within SEND_TIMEOUT_MS, from waiting for
   * a connection to the final reply. On the deadline nodemailer's abort drops the message from
   * the queue or closes the connection delivering it (other connections go on), and the send
   * fails with a transient `send_timeout` at stage connect (the session never got ready) or send.
   * A transport closed under a message that was still queued in it (a config change, or its
   * connections given back to waiting jobs) fails that message without it having reached the
   * server: it goes once more, on a fresh transport.
   */
  async send(resolved: ResolvedConfig, mail: Mail.Options): Promise<SMTPPool.SentMessageInfo> {
    const ms = this.options.sendTimeoutMs ?? DEFAULT_SEND_TIMEOUT_MS;
    const abort = new SendAbort();
    let stage: Stage | undefined;
    let transport = this.get(resolved);
    const ready = precomposed(mail);
    const timer = setTimeout(() => {
      stage = stuckStage(transport, ready ? abort : abort.signal);
      abort.abort();
    }, ms);
    const sendOn = (pooled: PooledTransport) => (ready ? sendPrecomposed(pooled, ready, abort) : pooled.sendMail({ ...mail, signal: abort.signal }));
    try {
      try {
        return await sendOn(transport);
      } catch (err) {
        if (stage || !(err instanceof Error) || err.message !== "Connection pool was closed") throw err;
        transport = this.get(resolved);
        return await sendOn(transport);
      }
    } catch (err) {
      if (stage) throw sendTimeoutError(stage, ms);
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Connections the config's transport opens at most (sends beyond them queue on them). */
  maxConnections(resolved: ResolvedConfig): number {
    return pooledConnections(resolved, this.options);
  }

  /** Closes every transport of a project (its config changed or was deleted). */
  closeProject(projectId: string): void {
    for (const [key, slot] of this.slots) {
      if (slot.projectId === projectId) this.closeSlot(key, slot);
    }
  }

  /** Closes a config's transport (in-flight sends finish); the next send opens a new one. */
  retire(resolved: ResolvedConfig): void {
    this.retireKey(transportKey(resolved));
  }

  retireKey(key: string): void {
    const slot = this.slots.get(key);
    if (slot) this.closeSlot(key, slot);
  }

  /** Number of open pooled transports, for metrics. */
  get size(): number {
    return this.slots.size;
  }

  closeAll(): void {
    clearInterval(this.sweeper);
    for (const [key, slot] of this.slots) this.closeSlot(key, slot);
  }

  private closeIdle(): void {
    const cutoff = Date.now() - this.idleMs;
    for (const [key, slot] of this.slots) if (slot.lastUsed < cutoff) this.closeSlot(key, slot);
  }

  /** The socket nodemailer would open itself, opened here so that admission can see it. */
  private plainSocket(): GetSocket {
    const timeoutMs = this.options.connectionTimeoutMs ?? 10_000;
    return (options, callback) => {
      connectPublicOnly(options.host ?? "", Number(options.port ?? 25), timeoutMs, () => false).then(
        (connection) => callback(null, { connection }),
        (err: Error) => callback(err, undefined),
      );
    };
  }

  private closeSlot(key: string, slot: Slot): void {
    this.slots.delete(key);
    // nodemailer's pool lets in-flight messages finish before closing its connections.
    slot.transport.close();
  }
}

/** The parts of nodemailer's pool internals `stuckStage` reads (not in its public types). */
interface PoolInternals {
  transporter?: { _connections?: { _connected?: boolean; queueEntry?: { mail?: { data?: { signal?: unknown } } } | false }[] };
}

/**
 * Where the message behind `signal` is stuck: "send" when its connection is logged in (MAIL,
 * RCPT, DATA), else "connect" (queued for a connection, or greeting, EHLO, STARTTLS, AUTH
 * still going). Only read when the deadline fires; if nodemailer's internals change it says "send".
 */
function stuckStage(transport: PooledTransport, signal: SendAbort | AbortSignal): Stage {
  const connections = (transport as unknown as PoolInternals).transporter?._connections;
  if (!Array.isArray(connections)) return "send";
  const resource = connections.find((c) => c.queueEntry && c.queueEntry.mail?.data?.signal === signal);
  return resource?._connected ? "send" : "connect";
}

/**
 * nodemailer's pool reads `options.maxConnections` each time it looks for a connection for a
 * queued message (and opens one below it): a getter makes that the number allowed right now,
 * between 1 and the configured size. Lowering it opens nothing and closes nothing.
 */
function capConnections(transport: PooledTransport, configured: number, allowed: () => number): void {
  const options = (transport as unknown as { transporter?: { options?: Record<string, unknown> } }).transporter?.options;
  if (!options || typeof options.maxConnections !== "number") return;
  Object.defineProperty(options, "maxConnections", { get: () => Math.max(1, Math.min(configured, allowed())), configurable: true });
}

/** Wraps a getSocket so that each new connection waits for admission and reports its close. */
function admitted(admission: (key: string) => Promise<() => void>, key: string, inner: GetSocket): GetSocket {
  return (options, callback) => {
    admission(key).then(
      (release) => {
        inner(options, (err, socketOptions) => {
          const socket = socketOptions ? (socketOptions as { connection?: Socket }).connection : undefined;
          if (err || !socket) release();
          else if (socket.destroyed) release();
          else socket.once("close", release);
          callback(err, socketOptions);
        });
      },
      (err: Error) => callback(err, undefined),
    );
  };
}
