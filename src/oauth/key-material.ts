// What the "client secret" of a JWT-bearer config holds: a PEM private key, or a whole Google
// service-account JSON key file. Parsed once, at PUT time and when a config is loaded.
import { createPrivateKey, type KeyObject } from "node:crypto";
import type { OAuthGrant } from "../smtp-config/model.ts";

export interface SigningKey {
  key: KeyObject;
  /** `kid` header, when the key file names it. */
  keyId?: string;
  /** `client_email` of a service-account file: the JWT `iss`. */
  clientEmail?: string;
  /** `token_uri` of a service-account file. */
  tokenUri?: string;
}

/** RS256 keys shorter than this are refused (NIST SP 800-131A; 512- and 1024-bit RSA are factorable). */
export const MIN_RSA_BITS = 2048;

export class KeyMaterialError extends Error {
  override name = "KeyMaterialError";
}

/** `jwt_bearer` when the secret is a PEM private key or a service-account JSON key. */
export function detectGrant(clientSecret: string): OAuthGrant {
  const s = clientSecret.trim();
  if (s.startsWith("-----BEGIN") && s.includes("PRIVATE KEY-----")) return "jwt_bearer";
  if (s.startsWith("{")) {
    // Any JSON object that looks like a key file is one, so a broken file is reported as
    // such instead of being posted to the token endpoint as a client secret.
    try {
      const file = JSON.parse(s) as Record<string, unknown>;
      if (file.type === "service_account" || "private_key" in file || "client_email" in file) return "jwt_bearer";
    } catch {
      return s.includes('"private_key"') ? "jwt_bearer" : "client_credentials";
    }
  }
  return "client_credentials";
}

export function parseSigningKey(clientSecret: string): SigningKey {
  const s = clientSecret.trim();
  if (s.startsWith("{")) {
    let file: Record<string, unknown>;
    try {
      file = JSON.parse(s) as Record<string, unknown>;
    } catch {
      throw new KeyMaterialError("clientSecret looks like a JSON key file but is not valid JSON");
    }
    if (typeof file.private_key !== "string") throw new KeyMaterialError("the service-account key file has no private_key");
    if (typeof file.client_email !== "string") throw new KeyMaterialError("the service-account key file has no client_email");
    return {
      key: importRsaKey(file.private_key),
      clientEmail: file.client_email,
      keyId: typeof file.private_key_id === "string" ? file.private_key_id : undefined,
      tokenUri: typeof file.token_uri === "string" ? file.token_uri : undefined,
    };
  }
  return { key: importRsaKey(s) };
}

function importRsaKey(pem: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: "pem" });
  } catch {
    throw new KeyMaterialError("the private key is not a readable PEM private key");
  }
  if (key.asymmetricKeyType !== "rsa") {
    throw new KeyMaterialError(`RS256 needs an RSA private key (got ${key.asymmetricKeyType ?? "an unknown key type"})`);
  }
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < MIN_RSA_BITS) {
    throw new KeyMaterialError(`the RSA private key has ${bits} bits; at least ${MIN_RSA_BITS} are required (create a new key for the service account)`);
  }
  return key;
}
