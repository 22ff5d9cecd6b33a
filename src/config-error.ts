// Its own module so config.ts and the helpers it uses (secret-sources.ts, env-file.ts) share
// one class without importing each other.

/** A setting is missing or malformed; the message is one line a person can act on. */
export class ConfigError extends Error {
  override name = "ConfigError";
}
