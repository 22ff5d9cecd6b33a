// Keyed fingerprints: stable identifiers for secret-bearing values that reveal nothing about them.
import { createHmac } from "node:crypto";
import type { MasterKey } from "./master-key.ts";

/** 128-bit HMAC-SHA256 of the parts, base64url. Parts are length-prefixed so ("ab","c") ≠ ("a","bc"). */
export function fingerprint(key: MasterKey, ...parts: string[]): string {
  const hmac = createHmac("sha256", key.fingerprintKey);
  for (const part of parts) hmac.update(`${Buffer.byteLength(part)}:${part};`);
  return hmac.digest().subarray(0, 16).toString("base64url");
}
