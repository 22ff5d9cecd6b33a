// Our secrets in every form an SMTP session puts them on the wire, for `cleanPeerText` to mask:
// a hostile server may echo the AUTH line back in its 535 reply, raw or base64 encoded.
import type { SmtpConfig } from "../smtp-config/model.ts";

/** Base64 without its `=` padding: also matches an echo that dropped the padding. */
function b64(text: string): string {
  return Buffer.from(text, "utf8").toString("base64").replace(/=+$/, "");
}

/**
 * The password (raw, as AUTH LOGIN sends it, and inside the AUTH PLAIN blob) or the OAuth
 * client secret, plus the access token and its XOAUTH2 blob when one is given.
 */
export function smtpSecrets(config: SmtpConfig, accessToken?: string): readonly string[] {
  const auth = config.auth;
  if (auth?.type === "oauth" && accessToken) {
    return [auth.clientSecret, accessToken, b64(`user=${auth.user ?? config.fromEmail}\u0001auth=Bearer ${accessToken}\u0001\u0001`)];
  }
  // Every successful send cleans its 250 reply with these: computed once per config object.
  let secrets = memo.get(config);
  if (!secrets) {
    secrets = auth?.type === "password"
      ? [auth.password, b64(auth.password), b64(`\u0000${auth.username}\u0000${auth.password}`)]
      : auth?.type === "oauth" ? [auth.clientSecret] : [];
    memo.set(config, secrets);
  }
  return secrets;
}

const memo = new WeakMap<SmtpConfig, readonly string[]>();
