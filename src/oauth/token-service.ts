// The token cache wired to a real token endpoint: what worker and API processes both build.
import type { Redis } from "ioredis";
import type { Keys } from "../keys.ts";
import type { MasterKey } from "../crypto/master-key.ts";
import type { Logger } from "../log.ts";
import { TokenCache, type TokenCacheOptions, type TokenObserver } from "./token-cache.ts";
import { TokenEndpoint, type TokenEndpointOptions } from "./token-endpoint.ts";
import { fetchToken } from "./grants.ts";

export interface TokenServiceOptions {
  redis: Redis;
  keys: Keys;
  masterKey: MasterKey;
  /** false: token URLs must not resolve to private addresses (checked on every connection). */
  allowPrivateTargets: boolean;
  log: Logger;
  observer?: TokenObserver;
  endpoint?: Omit<TokenEndpointOptions, "blockPrivateTargets">;
  cache?: Pick<TokenCacheOptions, "negativeTtlMs" | "pollMs" | "lockMs">;
}

export interface TokenService {
  tokens: TokenCache;
  close(): Promise<void>;
}

export function createTokenService(options: TokenServiceOptions): TokenService {
  const endpoint = new TokenEndpoint({ ...options.endpoint, blockPrivateTargets: !options.allowPrivateTargets });
  const tokens = new TokenCache({
    ...options.cache,
    redis: options.redis,
    keys: options.keys,
    masterKey: options.masterKey,
    fetch: (spec) => fetchToken(endpoint, spec),
    log: options.log,
    observer: options.observer,
  });
  return { tokens, close: () => endpoint.close() };
}
