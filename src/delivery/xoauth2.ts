// SASL XOAUTH2 for pooled connections: nodemailer asks for a token whenever a connection
// authenticates (and again, with `renew`, after the server refused one); we answer from the
// shared token cache, so a new connection always gets a currently valid token.
import type { MasterKey } from "../crypto/master-key.ts";
import type { ResolvedConfig } from "../smtp-config/model.ts";
import type { TokenCache } from "../oauth/token-cache.ts";
import { tokenSpecFor, type TokenSpec } from "../oauth/spec.ts";

type ProvisionCallback = (this: { accessToken?: string } | undefined, user: string, renew: boolean, callback: (err: Error | null, accessToken?: string, expires?: number) => void) => void;

export interface XOAuth2Auth {
  type: "OAuth2";
  user: string;
  provisionCallback: ProvisionCallback;
}

export class XOAuth2 {
  constructor(
    private readonly tokens: TokenCache,
    private readonly masterKey: MasterKey,
  ) {}

  spec(resolved: ResolvedConfig): TokenSpec {
    return tokenSpecFor(resolved, this.masterKey);
  }

  /** A valid token now (warms the cache before a send, so token errors keep their own stage). */
  token(resolved: ResolvedConfig): Promise<string> {
    return this.tokens.get(this.spec(resolved));
  }

  /** The server refused `token`: drop it so the next connection gets a fresh one. */
  invalidate(resolved: ResolvedConfig, token: string): Promise<void> {
    return this.tokens.invalidate(this.spec(resolved), token);
  }

  /** nodemailer `auth` options for a pooled transport of this config. */
  transportAuth(resolved: ResolvedConfig): XOAuth2Auth {
    const spec = this.spec(resolved);
    const tokens = this.tokens;
    return {
      type: "OAuth2",
      user: spec.user,
      // A plain function: nodemailer calls it as a method of the connection's own token holder,
      // whose `accessToken` is the one the server just refused (not whatever the cache has now).
      provisionCallback: function (this: { accessToken?: string } | undefined, _user, renew, callback) {
        const refused = renew ? this?.accessToken : undefined;
        const next = refused ? tokens.invalidate(spec, refused).then(() => tokens.get(spec)) : tokens.get(spec);
        next.then((token) => callback(null, token), (err: Error) => callback(err));
      },
    };
  }
}
