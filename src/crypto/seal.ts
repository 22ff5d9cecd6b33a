// AES-256-GCM envelopes for secrets at rest: `v1.<keyId>.<base64url(iv | ciphertext | tag)>`.
// The key id picks the key that opens it: the current master key or one of its previous keys
// (NOTIFY_MASTER_KEY_PREVIOUS), so envelopes sealed before a rotation stay readable.
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { keyWithId, type MasterKey } from "./master-key.ts";

const IV_BYTES = 12;
const TAG_BYTES = 16;

export class SealError extends Error {
  override name = "SealError";
}

/** The envelope names a key this process does not have (neither current nor previous). */
export class UnknownKeyError extends SealError {
  override name = "UnknownKeyError";
  constructor(readonly keyId: string, readonly currentKeyId: string) {
    super(`sealed with master key ${keyId}, which is neither the current NOTIFY_MASTER_KEY (${currentKeyId}) nor in NOTIFY_MASTER_KEY_PREVIOUS`);
  }
}

/** The id of the key that sealed `envelope`, or null when it is not an envelope. */
export function envelopeKeyId(envelope: string): string | null {
  const [version, keyId, data] = envelope.split(".", 3);
  return version === "v1" && keyId && data !== undefined ? keyId : null;
}

/** `aad` binds the envelope to its place (e.g. the Redis key), so envelopes cannot be swapped. */
export function seal(key: MasterKey, plaintext: string, aad: string): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv("aes-256-gcm", key.sealKey, iv);
  cipher.setAAD(Buffer.from(aad));
  const body = Buffer.concat([iv, cipher.update(plaintext, "utf8"), cipher.final(), cipher.getAuthTag()]);
  return `v1.${key.id}.${body.toString("base64url")}`;
}

export function open(key: MasterKey, envelope: string, aad: string): string {
  const [version, keyId, data] = envelope.split(".");
  if (version !== "v1" || !keyId || data === undefined) throw new SealError("not a sealed envelope");
  const opener = keyWithId(key, keyId);
  if (!opener) throw new UnknownKeyError(keyId, key.id);
  const body = Buffer.from(data, "base64url");
  if (body.length < IV_BYTES + TAG_BYTES) throw new SealError("sealed envelope is truncated");
  const decipher = createDecipheriv("aes-256-gcm", opener.sealKey, body.subarray(0, IV_BYTES));
  decipher.setAAD(Buffer.from(aad));
  decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
  try {
    return Buffer.concat([decipher.update(body.subarray(IV_BYTES, body.length - TAG_BYTES)), decipher.final()]).toString("utf8");
  } catch {
    throw new SealError("sealed envelope failed authentication (wrong key or tampered data)");
  }
}
