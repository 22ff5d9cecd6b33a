// The master key and the keys derived from it. Each purpose gets its own HKDF subkey, so a
// fingerprint never reveals anything about the sealing key and vice versa.
import { createHash, hkdfSync } from "node:crypto";

export interface MasterKey {
  /** Short id stored in every sealed envelope, so a later key rotation can tell keys apart. */
  id: string;
  /** AES-256-GCM key for sealing secrets at rest. */
  sealKey: Buffer;
  /** HMAC-SHA256 key for fingerprints of secrets (cache and pool keys). */
  fingerprintKey: Buffer;
  /**
   * Earlier keys (NOTIFY_MASTER_KEY_PREVIOUS): they still open envelopes sealed before a
   * rotation, but nothing is sealed or fingerprinted with them. Default: none.
   */
  previous?: readonly MasterKey[];
}

export class MasterKeyError extends Error {
  override name = "MasterKeyError";
}

/** Parses 32 base64 bytes; `source` names the variable or file in the error. */
export function parseMasterKey(base64: string, source: string): MasterKey {
  const raw = Buffer.from(base64, "base64");
  if (raw.length !== 32 || raw.toString("base64").replace(/=+$/, "") !== base64.replace(/=+$/, "")) {
    throw new MasterKeyError(`${source} must be 32 random bytes in base64 (\`openssl rand -base64 32\`)`);
  }
  return {
    id: createHash("sha256").update(raw).digest("hex").slice(0, 8),
    sealKey: derive(raw, "notify-smtp seal v1"),
    fingerprintKey: derive(raw, "notify-smtp fingerprint v1"),
  };
}

/** `current` that also opens envelopes of `previous` (duplicates of `current` are dropped). */
export function withPreviousKeys(current: MasterKey, previous: readonly MasterKey[]): MasterKey {
  const unique = previous.filter((key, i) => key.id !== current.id && previous.findIndex((k) => k.id === key.id) === i);
  return unique.length > 0 ? { ...current, previous: unique.map((key) => ({ ...key, previous: undefined })) } : current;
}

/** The key with this id among `key` and its previous keys. */
export function keyWithId(key: MasterKey, id: string): MasterKey | undefined {
  if (key.id === id) return key;
  return key.previous?.find((k) => k.id === id);
}

function derive(raw: Buffer, info: string): Buffer {
  return Buffer.from(hkdfSync("sha256", raw, Buffer.alloc(0), info, 32));
}
