// One pino logger per process. Callers make child loggers (`{ jobId, projectId }`) once per
// job or component; secrets are removed by path before anything is written.
import { createRequire } from "node:module";
import { pino, type Logger, type DestinationStream } from "pino";

export type { Logger };

const SECRET_FIELDS = [
  "password", "pass", "clientSecret", "client_secret", "accessToken", "access_token",
  "refreshToken", "refresh_token", "token", "privateKey", "private_key", "assertion",
  "authorization", "Authorization", "cookie", "masterKey",
];

/** Secret-bearing paths at the top level and up to three levels down, plus HTTP headers. */
export const REDACT_PATHS: string[] = [
  ...SECRET_FIELDS,
  ...SECRET_FIELDS.map((f) => `*.${f}`),
  ...SECRET_FIELDS.map((f) => `*.*.${f}`),
  ...SECRET_FIELDS.map((f) => `*.*.*.${f}`),
  'req.headers["x-api-key"]',
];

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
  /** Where lines go; tests pass a stream to capture them. Default stdout. */
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
    redact: { paths: REDACT_PATHS, censor: "[redacted]" },
    // Paths cannot reach inside a string: URLs are cleaned by serializers (Fastify's own
    // "incoming request" line uses `req`, which this one replaces).
    serializers: { err: pino.stdSerializers.err, req: serializeRequest, url: serializeUrl, tokenUrl: serializeUrl },
  };
  if (options.pretty && !options.destination && prettyAvailable()) {
    // Redaction and serializers run here, before a line reaches the transport's thread.
    return pino(settings, pino.transport({ target: "pino-pretty", options: { translateTime: "SYS:HH:MM:ss.l", ignore: "pid,hostname" } }));
  }
  return pino(settings, options.destination);
}

function prettyAvailable(): boolean {
  try {
    createRequire(import.meta.url).resolve("pino-pretty");
    return true;
  } catch {
    return false;
  }
}
