// Which IP addresses are not the public internet, from the IANA special-purpose registries
// (RFC 6890 and successors). Addresses are compared as numbers, never as text, so every way
// of writing one address (`::ffff:127.0.0.1`, `::ffff:7f00:1`, `0:0:0:0:0:ffff:7f00:1`) gets
// the same answer. IPv6 forms that carry an IPv4 address inside (mapped, translated, NAT64,
// 6to4) are judged by the IPv4 address they lead to.
import { isIP } from "node:net";

/** An IPv4 range: first address (as a number) and prefix length. */
type V4Range = readonly [string, number, string];

/** IPv4 ranges that are not globally reachable unicast. Third column: why, for readers. */
const V4_SPECIAL: readonly V4Range[] = [
  ["0.0.0.0", 8, "this network"],
  ["10.0.0.0", 8, "private (RFC 1918)"],
  ["100.64.0.0", 10, "carrier-grade NAT (RFC 6598)"],
  ["127.0.0.0", 8, "loopback"],
  ["169.254.0.0", 16, "link-local (cloud metadata lives here)"],
  ["172.16.0.0", 12, "private (RFC 1918)"],
  ["192.0.0.0", 24, "IETF protocol assignments"],
  ["192.0.2.0", 24, "documentation (TEST-NET-1)"],
  ["192.88.99.0", 24, "deprecated 6to4 relay anycast (RFC 7526)"],
  ["192.168.0.0", 16, "private (RFC 1918)"],
  ["198.18.0.0", 15, "benchmarking (RFC 2544)"],
  ["198.51.100.0", 24, "documentation (TEST-NET-2)"],
  ["203.0.113.0", 24, "documentation (TEST-NET-3)"],
  ["224.0.0.0", 4, "multicast"],
  ["240.0.0.0", 4, "reserved, and 255.255.255.255 broadcast"],
];

/** IPv6 ranges inside global unicast (2000::/3) that are not public. Everything outside 2000::/3 is refused, except the embedded-IPv4 forms below. */
const V6_SPECIAL: readonly [string, number, string][] = [
  ["2001::", 23, "IETF protocol assignments (Teredo, benchmarking, ORCHID, …)"],
  ["2001:db8::", 32, "documentation"],
  ["3fff::", 20, "documentation (RFC 9637)"],
];

/** IPv6 forms that lead to an IPv4 address: prefix, prefix length, bit offset of the IPv4 address. */
const V6_EMBEDDING_V4: readonly [string, number, number, string][] = [
  ["::ffff:0:0", 96, 96, "IPv4-mapped"],
  ["::ffff:0:0:0", 96, 96, "IPv4-translated (SIIT)"],
  ["64:ff9b::", 96, 96, "NAT64 well-known prefix (RFC 6052)"],
  ["2002::", 16, 16, "6to4 (RFC 3056)"],
];

const GLOBAL_UNICAST: readonly [bigint, number] = [v6ToBigInt("2000::"), 3];

const v4Table = V4_SPECIAL.map(([net, bits]) => [v4ToNumber(net), bits] as const);
const v6Table = V6_SPECIAL.map(([net, bits]) => [v6ToBigInt(net), bits] as const);
const v6Embedding = V6_EMBEDDING_V4.map(([net, bits, offset]) => [v6ToBigInt(net), bits, offset] as const);

/**
 * True when `ip` is not a public unicast address: loopback, private, link-local, site-local,
 * unique-local, multicast, documentation, benchmarking, reserved, or an IPv6 form of one of
 * those. Anything that is not an IP address at all answers true (refuse what we cannot judge).
 */
export function isNonPublicAddress(ip: string): boolean {
  const bare = ip.replace(/^\[|\]$/g, "").replace(/%.*$/, "");
  const family = isIP(bare);
  if (family === 4) return v4IsSpecial(v4ToNumber(bare));
  if (family === 6) return v6IsSpecial(v6ToBigInt(bare));
  return true;
}

function v4IsSpecial(n: number): boolean {
  return v4Table.some(([net, bits]) => inV4(n, net, bits));
}

function v6IsSpecial(n: bigint): boolean {
  for (const [net, bits, offset] of v6Embedding) {
    if (inV6(n, net, bits)) return v4IsSpecial(Number((n >> BigInt(96 - offset)) & 0xffffffffn));
  }
  if (!inV6(n, GLOBAL_UNICAST[0], GLOBAL_UNICAST[1])) return true;
  return v6Table.some(([net, bits]) => inV6(n, net, bits));
}

function inV4(n: number, net: number, bits: number): boolean {
  const shift = 32 - bits;
  return Math.floor(n / 2 ** shift) === Math.floor(net / 2 ** shift);
}

function inV6(n: bigint, net: bigint, bits: number): boolean {
  const shift = BigInt(128 - bits);
  return n >> shift === net >> shift;
}

function v4ToNumber(ip: string): number {
  return ip.split(".").reduce((n, part) => n * 256 + Number(part), 0);
}

/** A valid IPv6 address (as `isIP` accepts it, zone id removed) as a 128-bit number. */
function v6ToBigInt(ip: string): bigint {
  let text = ip;
  // A trailing dotted quad stands for the last two groups.
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted?.[1]) {
    const n = v4ToNumber(dotted[1]);
    text = `${text.slice(0, dotted.index)}${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`;
  }
  const [head = "", tail] = text.split("::");
  const left = head ? head.split(":") : [];
  const right = tail ? tail.split(":") : [];
  const groups = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill("0"), ...right];
  return groups.reduce((n, g) => (n << 16n) | BigInt(parseInt(g, 16)), 0n);
}
