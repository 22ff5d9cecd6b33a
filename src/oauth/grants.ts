// The two grants as token requests: client credentials (RFC 6749 §4.4) and the JWT bearer
// assertion of a Google service account (RFC 7523), signed RS256 with jose.
import { SignJWT } from "jose";
import type { TokenSpec } from "./spec.ts";
import type { TokenEndpoint, TokenResponse } from "./token-endpoint.ts";

export const JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/** Google accepts at most one hour. */
const ASSERTION_LIFETIME_S = 3600;

export async function fetchToken(endpoint: TokenEndpoint, spec: TokenSpec, now = Date.now()): Promise<TokenResponse> {
  if (spec.grant === "jwt_bearer") {
    const form = new URLSearchParams({ grant_type: JWT_BEARER, assertion: await signAssertion(spec, now) });
    // The key material never leaves us, but it is masked too should anything ever carry it.
    return endpoint.post(spec.tokenUrl, form, { secrets: [spec.clientSecret] });
  }
  const form = new URLSearchParams({ grant_type: "client_credentials", scope: spec.scope });
  const headers: Record<string, string> = {};
  if (spec.tokenEndpointAuth === "client_secret_basic") {
    // RFC 6749 §2.3.1: each part is form-urlencoded before base64.
    const basic = Buffer.from(`${formEncode(spec.clientId)}:${formEncode(spec.clientSecret)}`).toString("base64");
    headers.authorization = `Basic ${basic}`;
  } else {
    form.set("client_id", spec.clientId);
    form.set("client_secret", spec.clientSecret);
  }
  return endpoint.post(spec.tokenUrl, form, { headers, secrets: [spec.clientSecret] });
}

export async function signAssertion(spec: TokenSpec, now: number): Promise<string> {
  const key = spec.signingKey;
  if (!key) throw new Error("jwt_bearer needs a signing key");
  const iat = Math.floor(now / 1000);
  return new SignJWT({ scope: spec.scope })
    .setProtectedHeader({ alg: "RS256", typ: "JWT", ...(key.keyId ? { kid: key.keyId } : {}) })
    .setIssuer(key.clientEmail ?? spec.clientId)
    .setSubject(spec.user)
    .setAudience(spec.tokenUrl)
    .setIssuedAt(iat)
    .setExpirationTime(iat + ASSERTION_LIFETIME_S)
    .sign(key.key);
}

function formEncode(value: string): string {
  return new URLSearchParams({ v: value }).toString().slice(2);
}
