// One pooled nodemailer transport per (project, config fingerprint). An edited config has a
// new fingerprint, so an old authenticated connection is never reused for it; the old
// transport is closed when the change is announced, and any transport idle too long is closed.
import nodemailer, { type Transporter } from "nodemailer";
import type SMTPPool from "nodemailer/lib/smtp-pool";
import type { ResolvedConfig } from "../smtp-config/model.ts";
import type { Logger } from "../log.ts";
import { transportOptions, type TransportTuning } from "./transport-options.ts";
import type { XOAuth2 } from "./xoauth2.ts";

export type PooledTransport = Transporter<SMTPPool.SentMessageInfo, SMTPPool.Options>;

export interface TransportPoolOptions extends TransportTuning {
  log: Logger;
  /** Token provisioning for OAuth configs. */
  xoauth2?: XOAuth2;
  /** Close a transport unused this long. Default 5 min. */
  idleMs?: number;
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
    const key = `${resolved.projectId}\u0000${resolved.fingerprint}`;
    let slot = this.slots.get(key);
    if (!slot) {
      const oauth = resolved.config.auth?.type === "oauth" ? this.options.xoauth2?.transportAuth(resolved) : undefined;
      const transport = nodemailer.createTransport(transportOptions(resolved, this.options, oauth));
      if (resolved.config.allowInsecureAuth) {
        this.options.log.warn({ projectId: resolved.projectId, host: resolved.config.host }, "allowInsecureAuth: credentials may be sent without TLS");
      }
      slot = { projectId: resolved.projectId, transport, lastUsed: 0 };
      this.slots.set(key, slot);
    }
    slot.lastUsed = Date.now();
    return slot.transport;
  }

  /** Closes every transport of a project (its config changed or was deleted). */
  closeProject(projectId: string): void {
    for (const [key, slot] of this.slots) {
      if (slot.projectId === projectId) this.closeSlot(key, slot);
    }
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

  private closeSlot(key: string, slot: Slot): void {
    this.slots.delete(key);
    // nodemailer's pool lets in-flight messages finish before closing its connections.
    slot.transport.close();
  }
}
