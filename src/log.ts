// One pino logger per process. Callers make child loggers (`{ jobId, projectId }`) once per
// job or component; secrets are removed by path before anything is written.
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

export interface LoggerOptions {
  level?: string;
  /** Where lines go; tests pass a stream to capture them. Default stdout. */
  destination?: DestinationStream;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      level: options.level ?? "info",
      base: { pid: process.pid },
      redact: { paths: REDACT_PATHS, censor: "[redacted]" },
      serializers: { err: pino.stdSerializers.err },
    },
    options.destination,
  );
}
