// DEFAULT_SMTP_URL → the SmtpConfig used by projects without their own.
import type { SmtpConfig } from "./model.ts";

/**
 * `smtp://user:pass@host:587` (STARTTLS when offered, and required when credentials are set),
 * `smtps://…` (implicit TLS, port 465 by default). Query flags: `requireTLS=true`,
 * `allowInsecureAuth=true`.
 */
export function parseSmtpUrl(url: string, from: string | undefined): SmtpConfig {
  const parsed = new URL(url);
  const implicitTls = parsed.protocol === "smtps:";
  const port = parsed.port ? Number(parsed.port) : implicitTls ? 465 : 587;
  const config: SmtpConfig = {
    host: parsed.hostname.replace(/^\[|\]$/g, ""),
    port,
    secure: implicitTls || parsed.searchParams.get("requireTLS") === "true",
    fromEmail: from ?? `notifications@${parsed.hostname || "localhost"}`,
  };
  if (parsed.searchParams.get("allowInsecureAuth") === "true") config.allowInsecureAuth = true;
  if (parsed.username) {
    config.auth = { type: "password", username: decodeURIComponent(parsed.username), password: decodeURIComponent(parsed.password) };
  }
  return config;
}

/** `"Acme Status <status@acme.test>"` or a bare address → name and address. */
export function parseFrom(from: string | undefined): { fromEmail?: string; fromName?: string } {
  if (!from) return {};
  const match = /^\s*"?([^"<]*?)"?\s*<([^>]+)>\s*$/.exec(from);
  if (match?.[2]) return { fromEmail: match[2].trim(), fromName: match[1]?.trim() || undefined };
  return { fromEmail: from.trim() };
}

/** The default server's config from DEFAULT_SMTP_URL and DEFAULT_FROM, or null without one. */
export function defaultServerConfig(settings: { defaultSmtpUrl?: string; defaultFrom?: string }): SmtpConfig | null {
  if (!settings.defaultSmtpUrl) return null;
  const from = parseFrom(settings.defaultFrom);
  const config = parseSmtpUrl(settings.defaultSmtpUrl, from.fromEmail);
  return from.fromName ? { ...config, fromName: from.fromName } : config;
}
