// Guards against server-side request forgery: a project's SMTP host or token URL must not
// point into our own network unless the operator explicitly allows it.
import { isIP, type LookupFunction } from "node:net";
import { lookup } from "node:dns/promises";
import { lookup as lookupCallback } from "node:dns";
import { isNonPublicAddress } from "./special-addresses.ts";

/** Loopback, private, link-local, documentation, … (see special-addresses.ts for the table). */
export function isPrivateAddress(ip: string): boolean {
  return isNonPublicAddress(ip);
}

export class PrivateTargetError extends Error {
  override name = "PrivateTargetError";
}

/**
 * Resolves `host` and throws `PrivateTargetError` when any address is loopback, private,
 * link-local or otherwise internal. A name that does not resolve is left to the connection
 * attempt, which reports it with its own stage and hint.
 */
export async function assertPublicHost(host: string): Promise<void> {
  const literal = host.replace(/^\[|\]$/g, "");
  let addresses: string[];
  if (isIP(literal)) addresses = [literal];
  else {
    try {
      addresses = (await lookup(literal, { all: true })).map((a) => a.address);
    } catch {
      return;
    }
  }
  const internal = addresses.find(isPrivateAddress);
  if (internal) {
    throw new PrivateTargetError(
      `${host} resolves to ${internal}, a private or loopback address; set NOTIFY_ALLOW_PRIVATE_TARGETS=true to allow it`,
    );
  }
}

/** Decides whether an IP address may not be connected to. */
export type AddressGuard = (ip: string) => boolean;

/**
 * A `lookup` for sockets that refuses blocked answers (error code EPRIVATE). Used at connect
 * time, so a name that resolved to a public address when the config was saved cannot be
 * pointed at an internal one later (DNS rebinding): the address checked is the one dialled.
 */
export function guardedLookup(blocked: AddressGuard = isPrivateAddress): LookupFunction {
  return (hostname, options, callback) => {
    lookupCallback(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, "", 4);
      const list = addresses as unknown as { address: string; family: number }[];
      const bad = list.find((a) => blocked(a.address));
      if (bad) {
        const refused = Object.assign(new Error(`${hostname} resolves to ${bad.address}, a private or loopback address`), { code: "EPRIVATE" });
        return callback(refused, "", 4);
      }
      if (options.all) return (callback as unknown as (e: null, a: typeof list) => void)(null, list);
      return callback(null, list[0]!.address, list[0]!.family);
    });
  };
}

export const publicOnlyLookup: LookupFunction = guardedLookup(isPrivateAddress);

/**
 * Node skips `lookup` when the host is already an IP address, so a lookup-based guard alone
 * never sees `127.0.0.1` or `[::1]`: every dial checks the literal with this first. Returns the
 * EPRIVATE error to fail with, or undefined when `host` is a name or a public address.
 */
export function refuseBlockedLiteral(host: string, blocked: AddressGuard = isPrivateAddress): (Error & { code: string }) | undefined {
  const literal = host.replace(/^\[|\]$/g, "");
  if (!isIP(literal) || !blocked(literal)) return undefined;
  return Object.assign(new Error(`${host} is a private or loopback address`), { code: "EPRIVATE" });
}
