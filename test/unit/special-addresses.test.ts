// The table of non-public addresses (src/net/special-addresses.ts): every special range is
// refused however the address is written, and ordinary public addresses are not.
import { test } from "node:test";
import assert from "node:assert/strict";
import { isNonPublicAddress } from "../../src/net/special-addresses.ts";
import { refuseBlockedLiteral } from "../../src/net/private-address.ts";

const REFUSED: [string, string][] = [
  ["0.0.0.0", "this network"],
  ["0.1.2.3", "this network"],
  ["10.1.2.3", "RFC 1918"],
  ["100.64.0.1", "CGN"],
  ["100.127.255.254", "CGN, last"],
  ["127.0.0.1", "loopback"],
  ["127.255.255.255", "loopback, last"],
  ["169.254.169.254", "cloud metadata"],
  ["172.16.0.1", "RFC 1918"],
  ["172.31.255.255", "RFC 1918, last"],
  ["192.0.0.8", "IETF protocol assignments"],
  ["192.0.2.1", "TEST-NET-1"],
  ["192.88.99.1", "6to4 relay anycast"],
  ["192.168.1.1", "RFC 1918"],
  ["198.18.0.1", "benchmarking"],
  ["198.19.255.255", "benchmarking, last"],
  ["198.51.100.7", "TEST-NET-2"],
  ["203.0.113.9", "TEST-NET-3"],
  ["224.0.0.1", "multicast"],
  ["239.255.255.255", "multicast, last"],
  ["240.0.0.1", "reserved"],
  ["255.255.255.255", "broadcast"],
  ["::", "unspecified"],
  ["::1", "loopback"],
  ["0:0:0:0:0:0:0:1", "loopback, long form"],
  ["[::1]", "loopback, bracketed"],
  ["::127.0.0.1", "IPv4-compatible"],
  ["::8.8.8.8", "IPv4-compatible (deprecated, never a real destination)"],
  ["::ffff:127.0.0.1", "IPv4-mapped, dotted"],
  ["::ffff:7f00:1", "IPv4-mapped, hex (how the WHATWG URL parser writes it)"],
  ["::FFFF:7F00:0001", "IPv4-mapped, upper case, leading zeros"],
  ["0:0:0:0:0:ffff:7f00:1", "IPv4-mapped, long form"],
  ["::ffff:a9fe:a9fe", "IPv4-mapped metadata address"],
  ["::ffff:0:7f00:1", "IPv4-translated"],
  ["::ffff:0:10.0.0.1", "IPv4-translated, dotted"],
  ["64:ff9b::127.0.0.1", "NAT64 to loopback"],
  ["64:ff9b::7f00:1", "NAT64 to loopback, hex"],
  ["64:ff9b::a00:1", "NAT64 to 10.0.0.1"],
  ["64:ff9b:1::8.8.8.8", "local-use NAT64 (RFC 8215)"],
  ["2002:7f00:1::", "6to4 of loopback"],
  ["2002:c0a8:101::1", "6to4 of 192.168.1.1"],
  ["2002:a9fe:a9fe::", "6to4 of the metadata address"],
  ["fc00::1", "unique local"],
  ["fd12:3456::1", "unique local"],
  ["fe80::1", "link-local"],
  ["fe80::1%eth0", "link-local with zone"],
  ["febf::1", "link-local, last"],
  ["fec0::1", "site-local (deprecated)"],
  ["feff::1", "site-local, last"],
  ["ff02::1", "multicast"],
  ["2001::1", "Teredo"],
  ["2001:2::1", "benchmarking"],
  ["2001:10::1", "ORCHID"],
  ["2001:db8::1", "documentation"],
  ["2001:db8:ffff::1", "documentation"],
  ["3fff::1", "documentation (RFC 9637)"],
  ["100::1", "discard-only (RFC 6666), outside global unicast"],
  ["4000::1", "unassigned, outside global unicast"],
  ["not-an-ip", "not an address at all"],
];

const PUBLIC: [string, string][] = [
  ["8.8.8.8", "Google DNS"],
  ["1.1.1.1", "Cloudflare"],
  ["52.96.0.1", "Microsoft 365"],
  ["100.63.255.255", "just below CGN"],
  ["100.128.0.0", "just above CGN"],
  ["172.15.255.255", "just below 172.16/12"],
  ["172.32.0.0", "just above 172.16/12"],
  ["192.0.3.1", "just above TEST-NET-1"],
  ["198.17.255.255", "just below benchmarking"],
  ["198.20.0.0", "just above benchmarking"],
  ["223.255.255.255", "just below multicast"],
  ["2606:4700::1111", "Cloudflare IPv6"],
  ["2a00:1450:4001::1", "Google IPv6"],
  ["2001:200::1", "first RIR allocation after the IETF block"],
  ["2001:db9::1", "just above documentation"],
  ["::ffff:8.8.8.8", "IPv4-mapped public"],
  ["::ffff:808:808", "IPv4-mapped public, hex"],
  ["64:ff9b::8.8.8.8", "NAT64 to a public address (DNS64 networks need it)"],
  ["64:ff9b::808:808", "NAT64 to a public address, hex"],
  ["2002:808:808::1", "6to4 of a public address"],
];

test("every special-purpose range is refused, however the address is written", () => {
  for (const [ip, why] of REFUSED) assert.equal(isNonPublicAddress(ip), true, `${ip} (${why}) must be refused`);
});

test("public addresses, including the edges next to special ranges, are allowed", () => {
  for (const [ip, why] of PUBLIC) assert.equal(isNonPublicAddress(ip), false, `${ip} (${why}) must be allowed`);
});

test("refuseBlockedLiteral: IP literals are judged before any dial; names are left to the lookup", () => {
  assert.equal(refuseBlockedLiteral("127.0.0.1")?.code, "EPRIVATE");
  assert.equal(refuseBlockedLiteral("[::ffff:7f00:1]")?.code, "EPRIVATE");
  assert.equal(refuseBlockedLiteral("8.8.8.8"), undefined);
  assert.equal(refuseBlockedLiteral("localhost"), undefined, "a name is checked on what it resolves to");
});

test("guardedConnector (undici's dial): refuses plain http and blocked literals before opening a socket", async () => {
  const { guardedConnector } = await import("../../src/net/guarded-connector.ts");
  const connect = guardedConnector({ timeoutMs: 1000 });
  const dial = (protocol: string, hostname: string) =>
    new Promise<string>((resolve) => connect({ protocol, hostname, port: "9" }, (err, socket) => {
      socket?.destroy();
      resolve((err as NodeJS.ErrnoException | null)?.code ?? "connected");
    }));
  assert.equal(await dial("http:", "example.com"), "EINSECUREURL");
  assert.equal(await dial("https:", "127.0.0.1"), "EPRIVATE");
  assert.equal(await dial("https:", "[::ffff:7f00:1]"), "EPRIVATE");
  assert.equal(await dial("https:", "localhost"), "EPRIVATE", "a name: the guarded lookup refuses what it resolves to");
});
