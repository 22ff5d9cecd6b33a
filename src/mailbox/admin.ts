// What the API needs of mailboxes: the effective limits and breaker health a GET shows, and
// what a PUT or DELETE of a config does to waiting jobs (close the breaker of the config's
// mailbox, promote the jobs that waited for it, and those of the project that waited for the
// mailbox it leaves).
import type { Redis } from "ioredis";
import type { Keys } from "../keys.ts";
import type { MasterKey } from "../crypto/master-key.ts";
import type { Logger } from "../log.ts";
import type { EmailQueue } from "../queue.ts";
import type { SmtpConfig } from "../smtp-config/model.ts";
import { mailboxOf } from "./mailbox.ts";
import { effectiveLimits, type EffectiveLimits, type LimitsSource } from "./limits.ts";
import { closeBreaker, readHealth, takeProjectWaiters, type MailboxHealth } from "./breaker.ts";
import { createPromoter, type Promote } from "./promote.ts";
import { WaitBook, type WaitRecord } from "../delivery/wait.ts";

export interface MailboxView {
  limits: EffectiveLimits;
  limitsSource: LimitsSource;
  health: MailboxHealth;
}

export class MailboxAdmin {
  private readonly promote: Promote;
  private readonly waits: WaitBook;

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly masterKey: MasterKey,
    queue: EmailQueue,
    log: Logger,
  ) {
    this.promote = createPromoter(queue, log);
    // Bounds do not matter for reading.
    this.waits = new WaitBook(redis, keys, { throttleMaxMs: 0, breakerMaxWaitMs: 0 });
  }

  async view(config: SmtpConfig): Promise<MailboxView> {
    const { limits, source } = effectiveLimits(config);
    return { limits, limitsSource: source, health: await readHealth(this.redis, this.keys, mailboxOf(config, this.masterKey)) };
  }

  /**
   * A project's config changed from `before` to `after` (null: the project has none now).
   * With `fixed` (a PUT), the new config's mailbox gets a fresh breaker and its waiting jobs go at once.
   */
  async configChanged(projectId: string, before: SmtpConfig | null, after: SmtpConfig | null, fixed: boolean): Promise<void> {
    const ids: string[] = [];
    const next = after && mailboxOf(after, this.masterKey);
    if (next && fixed) ids.push(...(await closeBreaker(this.redis, this.keys, next)));
    const previous = before && mailboxOf(before, this.masterKey);
    if (previous && previous.id !== next?.id) ids.push(...(await takeProjectWaiters(this.redis, this.keys, previous, projectId)));
    if (ids.length > 0) this.promote(ids);
  }

  waitingFor(job: Parameters<WaitBook["read"]>[0]): Promise<WaitRecord> {
    return this.waits.read(job);
  }
}
