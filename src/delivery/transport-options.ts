// SmtpConfig → nodemailer pooled transport options. This is where "credentials never travel
// unencrypted" and "certificates are always verified" are enforced.
import { isIP } from "node:net";
import type SMTPPool from "nodemailer/lib/smtp-pool";
import type SMTPConnection from "nodemailer/lib/smtp-connection";
import type { ResolvedConfig } from "../smtp-config/model.ts";
import type { XOAuth2Auth } from "./xoauth2.ts";
import { publicOnlyGetSocket } from "../net/public-socket.ts";
import type { AddressGuard } from "../net/private-address.ts";
import { effectiveLimits } from "../mailbox/limits.ts";

export interface TransportTuning {
  /** Connections per pooled transport. Default 5, and never more than the mailbox's `limits.maxConnections`. */
  maxConnections?: number;
  /** Messages per connection before it is recycled. Default 1000. */
  maxMessages?: number;
  /** Extra trusted CAs (PEM) on top of Node's and NODE_EXTRA_CA_CERTS; used by tests. */
  ca?: string | string[];
  connectionTimeoutMs?: number;
  socketTimeoutMs?: number;
  /** Refuse to connect to private/loopback addresses (NOTIFY_ALLOW_PRIVATE_TARGETS=false). */
  blockPrivateTargets?: boolean;
  /** With blockPrivateTargets: which addresses count as blocked. Default: private and loopback. */
  blockedAddress?: AddressGuard;
  /** Total time per send, connect to final reply (SEND_TIMEOUT_MS). Default 120000. */
  sendTimeoutMs?: number;
}

/**
 * The longest server reply we read. nodemailer's own limit is 1 MB, and parsing a megabyte
 * EHLO reply blocks the event loop for tens of milliseconds; real replies are a few hundred bytes.
 */
export const MAX_REPLY_BYTES = 64 * 1024;

/** Where and how to connect: host, port, TLS policy, timeouts. Shared by the pool and test-send. */
export function connectionOptions(resolved: ResolvedConfig, tuning: TransportTuning = {}): SMTPConnection.Options {
  const { config } = resolved;
  const implicitTls = config.secure && config.port === 465;
  return {
    host: config.host,
    port: config.port,
    secure: implicitTls,
    // With credentials, STARTTLS is required even when `secure` is false, unless the
    // operator explicitly allowed plaintext authentication.
    requireTLS: !implicitTls && (config.secure || (Boolean(config.auth) && !config.allowInsecureAuth)),
    connectionTimeout: tuning.connectionTimeoutMs ?? 10_000,
    greetingTimeout: tuning.connectionTimeoutMs ?? 10_000,
    socketTimeout: tuning.socketTimeoutMs ?? 60_000,
    maxResponseSize: MAX_REPLY_BYTES,
    tls: { rejectUnauthorized: true, minVersion: "TLSv1.2", ...(isIP(config.host) ? {} : { servername: config.host }), ...(tuning.ca ? { ca: tuning.ca } : {}) },
  };
}

/** Connections a config's pooled transport opens at most; further sends queue on them. */
export function pooledConnections(resolved: ResolvedConfig, tuning: TransportTuning = {}): number {
  return Math.min(tuning.maxConnections ?? 5, effectiveLimits(resolved.config).limits.maxConnections);
}

/** The pooled transport: connection options, pool sizes and credentials. `oauth` is required for OAuth configs. */
export function transportOptions(resolved: ResolvedConfig, tuning: TransportTuning = {}, oauth?: XOAuth2Auth): SMTPPool.Options {
  const { config } = resolved;
  const options: SMTPPool.Options = {
    ...connectionOptions(resolved, tuning),
    ...(tuning.blockPrivateTargets ? { getSocket: publicOnlyGetSocket(tuning.connectionTimeoutMs ?? 10_000, tuning.blockedAddress) } : {}),
    pool: true,
    maxConnections: pooledConnections(resolved, tuning),
    maxMessages: tuning.maxMessages ?? 1000,
    disableFileAccess: true,
    disableUrlAccess: true,
  };
  if (config.auth?.type === "password") {
    options.auth = { user: config.auth.username, pass: config.auth.password };
  } else if (config.auth?.type === "oauth") {
    if (!oauth) throw new Error("an OAuth config needs an XOAUTH2 token provider");
    options.auth = oauth;
  }
  return options;
}
