// A project's SMTP configuration as the API accepts and stores it.

export interface PasswordAuth {
  type: "password";
  username: string;
  password: string;
}

export type OAuthGrant = "client_credentials" | "jwt_bearer";
export type TokenEndpointAuth = "client_secret_post" | "client_secret_basic";

export interface OAuthAuth {
  type: "oauth";
  clientId: string;
  /** A client secret, or for `jwt_bearer` a PEM private key or a Google service-account JSON key. */
  clientSecret: string;
  /** Taken from a service-account key file's token_uri when omitted. */
  tokenUrl: string;
  /** Defaults for Microsoft 365 and Google token URLs; required for other providers. */
  scope: string;
  /** The XOAUTH2 user when it is not `fromEmail`. */
  user?: string;
  /** Detected from `clientSecret` when absent. */
  grant?: OAuthGrant;
  tokenEndpointAuth?: TokenEndpointAuth;
}

export type SmtpAuth = PasswordAuth | OAuthAuth;

/** A mailbox's sending limits (src/mailbox/limits.ts); each one left out takes the provider default. */
export interface MailboxLimits {
  /** Connections (and so sends in flight) at once, across every worker replica. */
  maxConnections?: number;
  /** A steady rate: sends are spaced 60000 / messagesPerMinute ms apart. */
  messagesPerMinute?: number;
  /** Messages per UTC day. */
  messagesPerDay?: number;
}

/** `graphUrl`'s default, and the scope a Graph config's token is asked for unless it names one. */
export const GRAPH_DEFAULT_URL = "https://graph.microsoft.com";
export const GRAPH_DEFAULT_SCOPE = "https://graph.microsoft.com/.default";

export type TransportName = "smtp" | "graph";

export interface SmtpConfig {
  /** Absent: "smtp". "graph": Microsoft Graph sendMail (src/delivery/transports/graph.ts). */
  transport?: TransportName;
  /** With transport "graph": where sendMail goes. Default GRAPH_DEFAULT_URL. */
  graphUrl?: string;
  /**
   * With transport "graph" the API refuses host, port and secure; they are derived from
   * graphUrl (host, port or 443, true) so that every consumer of a config (mailbox identity,
   * logs) sees where it sends, and never shown (redactConfig).
   */
  host: string;
  port: number;
  /** Encryption mandatory: implicit TLS on 465, STARTTLS required on any other port. */
  secure: boolean;
  fromEmail: string;
  fromName?: string;
  replyTo?: string;
  /** Absent: the server relays without authentication. */
  auth?: SmtpAuth;
  /** The explicit, logged exception to "credentials only over an encrypted connection". */
  allowInsecureAuth?: boolean;
  /** Per-mailbox sending limits; provider defaults by host when absent. */
  limits?: MailboxLimits;
}

/** The config a job is sent with: the project's own, or the default server. */
export interface ResolvedConfig {
  projectId: string;
  source: "project" | "default";
  config: SmtpConfig;
  /** HMAC of everything in the config, secrets included: pool and cache keys hang off it. */
  fingerprint: string;
  /** Increments on every PUT; 0 for the default server. */
  version: number;
}

export const REDACTED = "[redacted]";

/** The config as the API may show it: every secret replaced. */
export function redactConfig(config: SmtpConfig): SmtpConfig {
  const shown = config.transport === "graph" ? withoutDerived(config) : { ...config };
  if (!config.auth) return shown;
  const auth: SmtpAuth =
    config.auth.type === "password" ? { ...config.auth, password: REDACTED } : { ...config.auth, clientSecret: REDACTED };
  return { ...shown, auth };
}

/** A Graph config as the API shows it: without the host, port and secure derived from graphUrl (a GET body can be PUT back). */
function withoutDerived(config: SmtpConfig): SmtpConfig {
  const { host: _host, port: _port, secure: _secure, ...rest } = config;
  return rest as SmtpConfig;
}
