// What it takes to get a token for one config, computed once per config (key parsing and the
// cache id are not redone per job).
import type { MasterKey } from "../crypto/master-key.ts";
import { fingerprint } from "../crypto/fingerprint.ts";
import { GRAPH_DEFAULT_SCOPE, type OAuthAuth, type OAuthGrant, type ResolvedConfig, type TokenEndpointAuth } from "../smtp-config/model.ts";
import { DeliveryError } from "../errors.ts";
import { detectGrant, KeyMaterialError, parseSigningKey, type SigningKey } from "./key-material.ts";

export interface TokenSpec {
  /** Cache id: HMAC over project, token URL, client, scope, user and secret. */
  id: string;
  projectId: string;
  grant: OAuthGrant;
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  scope: string;
  /** The XOAUTH2 user, and the `sub` a service account impersonates. */
  user: string;
  tokenEndpointAuth: TokenEndpointAuth;
  signingKey?: SigningKey;
}

/** Scopes people should not have to look up. */
export function defaultScope(tokenUrl: string): string | undefined {
  const host = new URL(tokenUrl).hostname;
  if (host === "login.microsoftonline.com") return "https://outlook.office365.com/.default";
  if (host === "oauth2.googleapis.com" || host === "accounts.google.com") return "https://mail.google.com/";
  return undefined;
}

const specs = new WeakMap<ResolvedConfig, TokenSpec>();

/** The spec of an OAuth config; memoized per resolved config object. */
export function tokenSpecFor(resolved: ResolvedConfig, masterKey: MasterKey): TokenSpec {
  const cached = specs.get(resolved);
  if (cached) return cached;
  const auth = resolved.config.auth as OAuthAuth;
  const grant = auth.grant ?? detectGrant(auth.clientSecret);
  const signingKey = grant === "jwt_bearer" ? readStoredKey(auth.clientSecret) : undefined;
  const tokenUrl = auth.tokenUrl || signingKey?.tokenUri || "";
  const scope = auth.scope || (resolved.config.transport === "graph" ? GRAPH_DEFAULT_SCOPE : defaultScope(tokenUrl)) || "";
  const user = auth.user ?? resolved.config.fromEmail;
  const tokenEndpointAuth = auth.tokenEndpointAuth ?? "client_secret_post";
  const spec: TokenSpec = {
    id: fingerprint(masterKey, "token", resolved.projectId, grant, tokenUrl, auth.clientId, scope, user, tokenEndpointAuth, auth.clientSecret),
    projectId: resolved.projectId,
    grant,
    tokenUrl,
    clientId: auth.clientId,
    clientSecret: auth.clientSecret,
    scope,
    user,
    tokenEndpointAuth,
    signingKey,
  };
  specs.set(resolved, spec);
  return spec;
}

/** A stored key that no longer passes (e.g. one saved before short RSA keys were refused) is a permanent config error. */
function readStoredKey(clientSecret: string): SigningKey {
  try {
    return parseSigningKey(clientSecret);
  } catch (err) {
    if (!(err instanceof KeyMaterialError)) throw err;
    throw new DeliveryError(err.message, { stage: "config", permanent: true, code: "invalid_signing_key", hint: "PUT the config again with a current RSA key of at least 2048 bits" });
  }
}
