// What a "mailbox" is: the sending identity a provider counts its limits against, i.e.
// (transport, host, port, the user we authenticate as, or fromEmail when we do not). Two
// projects that send as the same user through the same server share one mailbox, and so one
// set of limits, one throttle state and one breaker, across every worker replica.
import type { MasterKey } from "../crypto/master-key.ts";
import { fingerprint } from "../crypto/fingerprint.ts";
import type { SmtpConfig } from "../smtp-config/model.ts";

export type MailboxTransport = "smtp" | "graph";

export interface Mailbox {
  /**
   * Keyed hash of the identity: the Redis key id and the metric label. Keyed (HMAC with the
   * master key) so that neither a key name nor a label gives away the address behind it.
   */
  readonly id: string;
  readonly transport: MailboxTransport;
  /** Lowercased. */
  readonly host: string;
  readonly port: number;
  /** Lowercased: the authenticated user, else fromEmail. */
  readonly identity: string;
}

export function mailboxOf(config: SmtpConfig, masterKey: MasterKey): Mailbox {
  const transport: MailboxTransport = config.transport ?? "smtp";
  // Graph: (graphUrl's host and port, fromEmail), the mailbox sendMail is called on. SMTP: the user we log in as.
  const host = config.host.toLowerCase();
  const user = transport === "graph" ? undefined : config.auth?.type === "password" ? config.auth.username : config.auth?.type === "oauth" ? config.auth.user : undefined;
  const identity = (user || config.fromEmail).toLowerCase();
  return { id: fingerprint(masterKey, "mailbox", transport, host, String(config.port), identity), transport, host, port: config.port, identity };
}
