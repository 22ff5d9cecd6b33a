// undici's connector with the private-target guard on the address actually dialled. The
// lookup-based guard alone is not enough: Node never calls `lookup` for a host that is already
// an IP address (`https://127.0.0.1/…`, `https://[::ffff:7f00:1]/…`), so literals are judged
// here before undici opens a socket. With the guard on, plain `http:` is refused as well (a
// client secret never travels unencrypted to a peer we do not control).
import { buildConnector } from "undici";
import { guardedLookup, isPrivateAddress, refuseBlockedLiteral, type AddressGuard } from "./private-address.ts";

export interface GuardedConnectorOptions {
  /** TCP + TLS connect timeout, ms. */
  timeoutMs: number;
  /** Which addresses may not be dialled. Default: every non-public address. */
  blocked?: AddressGuard;
}

/** Error code for an `http:` URL while private targets are not allowed. */
export const INSECURE_URL = "EINSECUREURL";

export function guardedConnector(options: GuardedConnectorOptions): buildConnector.connector {
  const blocked = options.blocked ?? isPrivateAddress;
  const connect = buildConnector({ timeout: options.timeoutMs, lookup: guardedLookup(blocked) });
  return (opts, callback) => {
    if (opts.protocol !== "https:") {
      return callback(Object.assign(new Error(`refusing to send to ${opts.hostname} over plain ${opts.protocol}`), { code: INSECURE_URL }), null);
    }
    const refused = refuseBlockedLiteral(opts.hostname, blocked);
    if (refused) return callback(refused, null);
    return connect(opts, callback);
  };
}

/**
 * The same rules before a request is even built, so a refused URL costs no connection
 * attempt and gets a clear message. Returns the error to throw, or undefined.
 */
export function refuseUrl(url: URL, blocked: AddressGuard = isPrivateAddress): (Error & { code: string }) | undefined {
  if (url.protocol !== "https:") {
    return Object.assign(new Error(`${url.host}: the token URL uses ${url.protocol}, not https:`), { code: INSECURE_URL });
  }
  return refuseBlockedLiteral(url.hostname, blocked);
}
