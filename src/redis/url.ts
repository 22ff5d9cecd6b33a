// REDIS_URL, every form we accept, parsed once into what ioredis needs. The WHATWG URL parser
// cannot read a list of hosts (`h1:26379,h2:26379`), so this parser is our own; it is also the
// only place that sees the password, and every message it makes shows the URL redacted.
//
//   redis://[user:password@]host[:port][/db]            one server (rediss:// for TLS)
//   redis+sentinel://[user:password@]host[:port][,host[:port]…]/<masterName>[/db]
//   redis+cluster://[user:password@]host[:port][,host[:port]…]
//   rediss+sentinel://…, rediss+cluster://…               the same over TLS
//
// The user and password apply to every node, and, for Sentinel, to the sentinels too (one
// secret to manage; `requirepass` + `masterauth` + `sentinel auth-pass` usually share it).
// Sentinels protected differently, or not at all, take `?sentinelPassword=` (empty: none)
// and `?sentinelUsername=`. TLS verifies certificates against Node's CAs plus
// NODE_EXTRA_CA_CERTS; `?servername=` sets the name checked when the hosts are IP addresses.

export type RedisTopology = "standalone" | "sentinel" | "cluster";

export interface RedisHost {
  host: string;
  port: number;
}

export interface RedisTarget {
  topology: RedisTopology;
  tls: boolean;
  /** One server, the sentinels, or the cluster's seed nodes (at least one). */
  hosts: RedisHost[];
  username?: string;
  password?: string;
  /** Sentinel only: the monitored master's name. */
  masterName?: string;
  /** Standalone and Sentinel only; a Cluster has only database 0. */
  db?: number;
  /** Sentinel only; absent means "the same as the nodes". */
  sentinelUsername?: string;
  sentinelPassword?: string;
  /** TLS only: the certificate name to verify (default: each host's own name). */
  servername?: string;
  /** 4 or 6: the address family to resolve host names to (ioredis's `family`). */
  family?: 4 | 6;
}

/** REDIS_URL cannot be used; the message is one line, with the password masked. */
export class RedisUrlError extends Error {
  override name = "RedisUrlError";
}

const SCHEME = /^(rediss?)(?:\+(sentinel|cluster))?:\/\/(.*)$/i;
const DEFAULT_PORT: Record<RedisTopology, number> = { standalone: 6379, sentinel: 26379, cluster: 6379 };
const PARAMS = new Set(["servername", "sentinelPassword", "sentinelUsername", "family"]);
const FORMS = "redis://, rediss://, redis+sentinel://host:port[,host:port…]/<masterName>, redis+cluster://host:port[,host:port…] (or rediss+…)";

export function parseRedisUrl(url: string): RedisTarget {
  const fail = (why: string): never => {
    throw new RedisUrlError(`REDIS_URL ${why} (got "${redactUrl(url)}")`);
  };
  const scheme = SCHEME.exec(url.trim());
  if (!scheme) return fail(`must be one of ${FORMS}`);
  const tls = scheme[1]!.toLowerCase() === "rediss";
  const topology = (scheme[2]?.toLowerCase() ?? "standalone") as RedisTopology;
  let rest = scheme[3]!;

  const hash = rest.indexOf("#");
  if (hash >= 0) rest = rest.slice(0, hash);
  const query = rest.indexOf("?");
  const params = new URLSearchParams(query >= 0 ? rest.slice(query + 1) : "");
  if (query >= 0) rest = rest.slice(0, query);
  // The last "@" ends the credentials: a password may contain "@" or "/" (better
  // percent-encoded), and nothing after the hosts may.
  const at = rest.lastIndexOf("@");
  const userinfo = at >= 0 ? rest.slice(0, at) : undefined;
  if (at >= 0) rest = rest.slice(at + 1);
  const slash = rest.indexOf("/");
  const authority = slash >= 0 ? rest.slice(0, slash) : rest;
  const path = (slash >= 0 ? rest.slice(slash + 1) : "").split("/").filter((part) => part !== "");

  const target: RedisTarget = { topology, tls, hosts: [] };
  if (userinfo !== undefined) {
    const colon = userinfo.indexOf(":");
    const username = decode(colon >= 0 ? userinfo.slice(0, colon) : userinfo, fail);
    const password = colon >= 0 ? decode(userinfo.slice(colon + 1), fail) : undefined;
    // `redis://secret@host` is read the way ioredis and redis-cli read it: a bare password.
    if (password === undefined) {
      if (username) target.password = username;
    } else {
      if (username) target.username = username;
      if (password) target.password = password;
    }
  }

  if (!authority) fail("names no host");
  for (const entry of authority.split(",")) {
    target.hosts.push(parseHost(entry, DEFAULT_PORT[topology], fail));
  }
  if (topology === "standalone" && target.hosts.length > 1) fail("lists several hosts: use redis+sentinel:// or redis+cluster:// for those");

  if (topology === "sentinel") {
    const name = path.shift();
    if (!name) fail("needs the master's name after the sentinels, e.g. redis+sentinel://h1:26379,h2:26379/mymaster");
    target.masterName = decode(name!, fail);
  }
  if (path.length > 0) {
    if (topology === "cluster") fail("cannot choose a database: a Cluster only has database 0");
    if (path.length > 1 || !/^\d{1,5}$/.test(path[0]!)) fail("has a path that is not a database number");
    target.db = Number(path[0]);
  }

  for (const [key, value] of params) {
    if (!PARAMS.has(key)) fail(`has an unknown parameter "${key}" (known: ${[...PARAMS].join(", ")})`);
    if (key === "servername") {
      if (!tls) fail("sets servername without TLS (use rediss:// or rediss+…://)");
      target.servername = value;
    } else if (key === "family") {
      if (value !== "4" && value !== "6") fail("family must be 4 or 6");
      target.family = Number(value) as 4 | 6;
    } else {
      if (topology !== "sentinel") fail(`sets ${key}, which only a redis+sentinel:// URL takes`);
      if (key === "sentinelPassword") target.sentinelPassword = value;
      else target.sentinelUsername = value;
    }
  }
  return target;
}

function parseHost(entry: string, defaultPort: number, fail: (why: string) => never): RedisHost {
  // [v6]:port, v6 in brackets only (a bare v6 address is ambiguous with host:port).
  const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+)(?::(\d{1,5}))?$/.exec(entry);
  if (!match) return fail("has a host that is not host[:port] (IPv6 in brackets)");
  const port = match[2] === undefined ? defaultPort : Number(match[2]);
  if (port < 1 || port > 65535) fail(`has a port out of range: ${port}`);
  const host = match[1]!.startsWith("[") ? match[1]!.slice(1, -1) : match[1]!;
  return { host, port };
}

function decode(text: string, fail: (why: string) => never): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return fail("has a malformed percent-escape in its user, password or name");
  }
}

/**
 * The URL with its passwords masked (the userinfo's and `sentinelPassword`'s), for logs and
 * messages. Works on any text: a URL this module would refuse is masked all the same.
 */
export function redactUrl(url: string): string {
  const scheme = /^([a-z][a-z0-9+.-]*:\/\/)(.*)$/i.exec(url.trim());
  if (!scheme) return "(unparseable URL)";
  let rest = scheme[2]!;
  const end = rest.search(/[?#]/);
  const at = rest.lastIndexOf("@", end >= 0 ? end : rest.length);
  if (at >= 0) {
    const userinfo = rest.slice(0, at);
    const colon = userinfo.indexOf(":");
    // No colon: a bare password (see parseRedisUrl), masked whole.
    const masked = colon >= 0 ? `${userinfo.slice(0, colon)}:***` : "***";
    rest = `${masked}${rest.slice(at)}`;
  }
  rest = rest.replace(/([?&;]sentinelPassword=)[^&#;]*/gi, (_m, name: string) => `${name}***`);
  return `${scheme[1]}${rest}`;
}
