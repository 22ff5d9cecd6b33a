// "Where a secret would go": the fields of a config that decide which server receives its
// password, client secret or signed assertion. A PUT that changes any of them must carry the
// secret again (contract, "Isolation"): otherwise anyone who may edit a config could point a
// stored secret at a server of their choosing and capture it.
import type { SmtpConfig } from "./model.ts";

/**
 * Dotted paths into a config. A new transport or endpoint field that receives a credential
 * (e.g. `transport`, `graphUrl` with the Graph transport) is one more line here.
 */
export const DESTINATION_FIELDS: readonly string[] = [
  "host",
  "port",
  "transport",
  "graphUrl",
  "auth.tokenUrl",
  "auth.username",
  "auth.user",
  "auth.clientId",
];

/** The destination fields whose value differs between `next` and `stored` (absent and "" count as the same). */
export function changedDestination(next: SmtpConfig, stored: SmtpConfig): string[] {
  return DESTINATION_FIELDS.filter((path) => normalize(read(next, path)) !== normalize(read(stored, path)));
}

function read(config: SmtpConfig, path: string): unknown {
  let value: unknown = config;
  for (const part of path.split(".")) value = value && typeof value === "object" ? (value as Record<string, unknown>)[part] : undefined;
  return value;
}

function normalize(value: unknown): string {
  return value === undefined || value === null || value === "" ? "" : JSON.stringify(value);
}
