// A mailbox's sending limits: what the config says, else what its provider publishes, else a
// conservative default. Each field of `config.limits` overrides only itself, so a config that
// sets only maxConnections for Microsoft 365 keeps the 30/min and 10,000/day defaults.
import type { MailboxLimits, SmtpConfig } from "../smtp-config/model.ts";

export interface EffectiveLimits {
  maxConnections: number;
  /** Absent: no rate limit. */
  messagesPerMinute?: number;
  /** Absent: no daily limit. */
  messagesPerDay?: number;
}

export type LimitsSource = "config" | "provider-default" | "default";

interface ProviderDefault {
  transport: "smtp" | "graph";
  /** Lowercased host names; absent matches every host of the transport. */
  hosts?: readonly string[];
  limits: EffectiveLimits;
  /** Where the numbers come from, for the README and for whoever updates them. */
  source: string;
}

/** Published limits by provider, first match wins. */
export const PROVIDER_DEFAULTS: readonly ProviderDefault[] = [
  {
    transport: "graph",
    limits: { maxConnections: 4 },
    source: "Microsoft Graph Outlook service limits: 4 concurrent requests per mailbox (MailboxConcurrency); beyond that Graph answers 429",
  },
  {
    transport: "smtp",
    hosts: ["smtp.office365.com", "smtp-mail.outlook.com"],
    limits: { maxConnections: 3, messagesPerMinute: 30, messagesPerDay: 10_000 },
    source: "Exchange Online limits: 3 concurrent SMTP connections, 30 messages/minute, 10,000 recipients/day",
  },
  {
    transport: "smtp",
    hosts: ["smtp.gmail.com"],
    limits: { maxConnections: 3, messagesPerDay: 2_000 },
    source: "Google Workspace sending limits: about 2,000 messages/day per user",
  },
];

/** Any other server: enough connections for throughput, no rate limit. */
export const DEFAULT_LIMITS: EffectiveLimits = { maxConnections: 10 };

export function providerDefault(transport: "smtp" | "graph", host: string): EffectiveLimits | undefined {
  const h = host.toLowerCase();
  return PROVIDER_DEFAULTS.find((d) => d.transport === transport && (!d.hosts || d.hosts.includes(h)))?.limits;
}

export function effectiveLimits(config: SmtpConfig): { limits: EffectiveLimits; source: LimitsSource } {
  const provider = providerDefault(config.transport ?? "smtp", config.host);
  const base = provider ?? DEFAULT_LIMITS;
  const own: MailboxLimits = config.limits ?? {};
  const limits: EffectiveLimits = { ...base, ...definedOnly(own) };
  const source: LimitsSource = Object.keys(definedOnly(own)).length > 0 ? "config" : provider ? "provider-default" : "default";
  return { limits, source };
}

function definedOnly(limits: MailboxLimits): MailboxLimits {
  return Object.fromEntries(Object.entries(limits).filter(([, v]) => v !== undefined)) as MailboxLimits;
}
