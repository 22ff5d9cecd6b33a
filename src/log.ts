// One pino logger per process. Callers make child loggers (`{ jobId, projectId }`) once per
// job or component; secrets are removed by field name before anything is written.
import { createRequire } from "node:module";
import { pino, type Bindings, type ChildLoggerOptions, type Logger, type DestinationStream } from "pino";

export type { Logger };

/** Fields whose value is never written, at whatever depth they occur. */
const SECRET_FIELDS = new Set([
  "password", "pass", "clientSecret", "client_secret", "accessToken", "access_token",
  "refreshToken", "refresh_token", "token", "privateKey", "private_key", "assertion",
  "authorization", "Authorization", "cookie", "masterKey", "x-api-key",
]);

const CENSOR = "[redacted]";
/** Deeper than this, a log object is not looked into (nor written: pino's own limit is lower). */
const MAX_DEPTH = 8;

/**
 * `value` with the value of every secret-named field replaced by `[redacted]`, at any depth,
 * in objects, arrays and errors. Copies only what it changes: a line without secrets (the
 * one per delivered email) is passed through as it is. This replaces pino's path-based
 * `redact`, which with wildcard paths for four levels cost about 80 µs per line, a fifth of
 * a worker's CPU per email at the default log level.
 */
export function redactSecrets(value: unknown, depth = 0): unknown {
  if (value === null || typeof value !== "object" || depth > MAX_DEPTH) return value;
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const item = redactSecrets(value[i], depth + 1);
      if (item !== value[i]) (copy ??= value.slice())[i] = item;
    }
    return copy ?? value;
  }
  let copy: Record<string, unknown> | undefined;
  const source = value as Record<string, unknown>;
  for (const key of Object.keys(source)) {
    const field = source[key];
    const clean = SECRET_FIELDS.has(key) ? (field === undefined ? field : CENSOR) : redactSecrets(field, depth + 1);
    if (clean !== field) (copy ??= shallowCopy(value))[key] = clean;
  }
  // An error's cause is not enumerable, but pino's serializer writes it.
  if (value instanceof Error && value.cause !== undefined) {
    const cause = redactSecrets(value.cause, depth + 1);
    if (cause !== value.cause) Object.defineProperty((copy ??= shallowCopy(value)), "cause", { value: cause, enumerable: false, writable: true });
  }
  return copy ?? value;
}

/** A copy to write into: an error keeps its prototype, message and stack (non-enumerable). */
function shallowCopy(value: object): Record<string, unknown> {
  if (value instanceof Error) {
    const copy = Object.assign(Object.create(Object.getPrototypeOf(value) as object) as Error, value);
    Object.defineProperty(copy, "message", { value: value.message, enumerable: false, writable: true });
    Object.defineProperty(copy, "stack", { value: value.stack, enumerable: false, writable: true });
    return copy as unknown as Record<string, unknown>;
  }
  return { ...(value as Record<string, unknown>) };
}

/** Query parameters that carry credentials, whoever sent them. */
const SECRET_QUERY = /([?&;](?:token|access_token|refresh_token|id_token|client_secret|password|api_key|apikey|code|assertion)=)[^&#;]*/gi;

/** The URL with the value of every credential-bearing query parameter replaced by `[redacted]`. */
export function redactUrl(url: string): string {
  return url.replace(SECRET_QUERY, "$1[redacted]");
}

interface RequestLike {
  method?: string;
  url?: string;
  host?: string;
  ip?: string;
  socket?: { remotePort?: number };
}

/** Fastify's request serializer, with the query string's credentials redacted. */
function serializeRequest(req: RequestLike) {
  return {
    method: req.method,
    url: typeof req.url === "string" ? redactUrl(req.url) : req.url,
    host: req.host,
    remoteAddress: req.ip,
    remotePort: req.socket?.remotePort,
  };
}

const serializeUrl = (url: unknown) => (typeof url === "string" ? redactUrl(url) : url);

export interface LoggerOptions {
  level?: string;
  /** Where lines go; tests pass a stream to capture them. Default stdout, in batches (bufferedStdout). */
  destination?: DestinationStream;
  /**
   * Human-readable lines through pino's own transport (pino-pretty, in a worker thread), for a
   * developer's terminal. Ignored with a `destination` or when pino-pretty (a dev dependency:
   * production never pretty-prints) is not installed.
   * Default false: one JSON object per line, what log collectors expect.
   */
  pretty?: boolean;
}

/** What entry points pass as `pretty`: a terminal, outside production. */
export function wantsPrettyLogs(production: boolean, stream: { isTTY?: boolean } = process.stdout): boolean {
  return !production && stream.isTTY === true;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const settings = {
    level: options.level ?? "info",
    base: { pid: process.pid },
    // Secrets are removed from every line before it is written (child bindings: withCleanChildren).
    formatters: {
      log: (object: Record<string, unknown>) => redactSecrets(object) as Record<string, unknown>,
    },
    // Paths cannot reach inside a string: URLs are cleaned by serializers (Fastify's own
    // "incoming request" line uses `req`, which this one replaces).
    serializers: { err: pino.stdSerializers.err, req: serializeRequest, url: serializeUrl, tokenUrl: serializeUrl },
  };
  if (options.pretty && !options.destination && prettyAvailable()) {
    // Redaction and serializers run here, before a line reaches the transport's thread.
    return withCleanChildren(pino(settings, pino.transport({ target: "pino-pretty", options: { translateTime: "SYS:HH:MM:ss.l", ignore: "pid,hostname" } })));
  }
  return withCleanChildren(pino(settings, options.destination ?? bufferedStdout()));
}

/**
 * stdout, written in batches: a line waits until 4 KB are pending or 250 ms have passed, and
 * whatever is pending is written when the process exits. A write per line cost 8 % of a
 * worker's CPU per email (one info line each); a kill -9 can lose the last 250 ms of lines.
 */
function bufferedStdout(): DestinationStream {
  return pino.destination({ dest: 1, minLength: 4096, periodicFlush: 250 });
}

/**
 * pino applies no formatter to a child's bindings (they are serialized once, at `child()`):
 * they are cleaned there. Children are made from their parent's prototype, so they and their
 * own children use this `child` too.
 */
function withCleanChildren(root: Logger): Logger {
  const pinoChild: (this: Logger, bindings: Bindings, options?: ChildLoggerOptions<never>) => Logger = root.child;
  function cleanChild(this: Logger, bindings: Bindings, options?: ChildLoggerOptions<never>): Logger {
    return pinoChild.call(this, redactSecrets(bindings) as Bindings, options);
  }
  // The same signature; pino's is generic over custom levels, which we do not use.
  root.child = cleanChild as unknown as Logger["child"];
  return root;
}

function prettyAvailable(): boolean {
  try {
    createRequire(import.meta.url).resolve("pino-pretty");
    return true;
  } catch {
    return false;
  }
}
