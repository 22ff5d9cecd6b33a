// Validates a PUT body into an SmtpConfig: shape (schema), then meaning (TLS rules, private
// targets, readable key material). Every problem is one FieldError.
import { compileValidator, ValidationError, type FieldError } from "../validation.ts";
import { emailAddressSchema } from "../jobs/schemas.ts";
import { assertPublicHost, PrivateTargetError } from "../net/private-address.ts";
import { detectGrant, KeyMaterialError, parseSigningKey } from "../oauth/key-material.ts";
import { defaultScope } from "../oauth/spec.ts";
import { GRAPH_DEFAULT_SCOPE, GRAPH_DEFAULT_URL, REDACTED, type OAuthAuth, type SmtpConfig } from "./model.ts";
import { changedDestination } from "./destination.ts";

const SINGLE_LINE = "^[^\\r\\n]*$";
const secret = { type: "string", maxLength: 16_384 } as const;

const schema = {
  type: "object",
  additionalProperties: false,
  // host and port: required with transport "smtp", refused with "graph" (transportErrors).
  required: ["fromEmail"],
  properties: {
    transport: { type: "string", enum: ["smtp", "graph"] },
    graphUrl: { type: "string", maxLength: 2048, pattern: "^https?://[^\\s]+$" },
    host: { type: "string", minLength: 1, maxLength: 253, pattern: "^[A-Za-z0-9.:\\[\\]-]+$" },
    port: { type: "integer", minimum: 1, maximum: 65535 },
    secure: { type: "boolean" },
    fromEmail: emailAddressSchema,
    fromName: { type: "string", maxLength: 200, pattern: SINGLE_LINE },
    replyTo: emailAddressSchema,
    allowInsecureAuth: { type: "boolean" },
    // Read-only fields of a GET, accepted (and dropped) so that a GET body can be PUT back.
    limitsSource: { type: "string" },
    health: { type: "object" },
    limits: {
      type: "object",
      additionalProperties: false,
      properties: {
        maxConnections: { type: "integer", minimum: 1, maximum: 1000 },
        messagesPerMinute: { type: "integer", minimum: 1, maximum: 1_000_000 },
        messagesPerDay: { type: "integer", minimum: 1, maximum: 1_000_000_000 },
      },
    },
    auth: {
      type: "object",
      required: ["type"],
      properties: { type: { type: "string", enum: ["password", "oauth"] } },
      // One conditional per type, so an unknown type is reported once, on auth.type.
      allOf: [
        {
          if: { required: ["type"], properties: { type: { const: "password" } } },
          then: {
            additionalProperties: false,
            required: ["username"],
            properties: { type: {}, username: { type: "string", minLength: 1, maxLength: 512, pattern: SINGLE_LINE }, password: secret },
          },
        },
        {
          if: { required: ["type"], properties: { type: { const: "oauth" } } },
          then: {
            additionalProperties: false,
            properties: {
              type: {},
              clientId: { type: "string", maxLength: 512, pattern: SINGLE_LINE },
              clientSecret: secret,
              tokenUrl: { type: "string", maxLength: 2048, pattern: "^https?://[^\\s]+$" },
              scope: { type: "string", maxLength: 1024, pattern: SINGLE_LINE },
              user: emailAddressSchema,
              grant: { type: "string", enum: ["client_credentials", "jwt_bearer"] },
              tokenEndpointAuth: { type: "string", enum: ["client_secret_post", "client_secret_basic"] },
            },
          },
        },
      ],
    },
  },
} as const;

const validateShape = compileValidator(schema);

export interface ParseConfigOptions {
  allowPrivateTargets: boolean;
  /**
   * The stored config: an omitted or "[redacted]" secret keeps its stored value, as long as
   * the config still sends it where it went before (see destination.ts).
   */
  existing?: SmtpConfig | null;
}

/** Error code of a PUT that moves a stored secret to a new destination without sending it again. */
export const SECRET_REQUIRED = "secret_required";

export async function parseSmtpConfig(input: unknown, options: ParseConfigOptions): Promise<SmtpConfig> {
  const shapeErrors = mergeErrors(validateShape(input), transportErrors(input));
  if (shapeErrors.length > 0) throw new ValidationError("the SMTP configuration is invalid", shapeErrors);
  const config = structuredClone(input) as SmtpConfig & { limitsSource?: unknown; health?: unknown };
  delete config.limitsSource;
  delete config.health;
  const errors: FieldError[] = [];
  const graph = config.transport === "graph";
  if (graph) deriveFromGraphUrl(config, options, errors);
  config.secure ??= true;

  const kept = keepStoredSecret(config, options.existing, errors);

  if (config.auth?.type === "oauth") await checkOAuth(config.auth, options, errors, graph);
  const urlRefused = graph && errors.some((e) => e.field === "graphUrl");
  if (!options.allowPrivateTargets && !urlRefused) await checkPublic(config.host, graph ? "graphUrl" : "host", errors);

  // Compared after grant detection, so a token URL or client id derived from the (stored) key
  // file counts as what it is, not as a change.
  const moved = kept && options.existing ? changedDestination(config, options.existing) : [];
  const secretError = moved.length > 0 && config.auth
    ? { field: `auth.${secretField(config)}`, message: `must be sent again: ${moved.join(", ")} changed, and a stored secret is never sent to a new destination` }
    : undefined;
  if (errors.length > 0) throw new ValidationError("the SMTP configuration is invalid", secretError ? [...errors, secretError] : errors);
  if (secretError) throw new ValidationError(`the SMTP configuration changes where its secret goes (${moved.join(", ")}): send the secret again`, [secretError], SECRET_REQUIRED);
  return config;
}

function secretField(config: SmtpConfig): "password" | "clientSecret" {
  return config.auth?.type === "password" ? "password" : "clientSecret";
}

/** Fills in grant, token URL and scope where they can be derived, and checks the key and URL. */
async function checkOAuth(auth: OAuthAuth, options: ParseConfigOptions, errors: FieldError[], graph: boolean): Promise<void> {
  if (auth.clientSecret === undefined) return; // already reported as required
  auth.grant ??= detectGrant(auth.clientSecret);
  if (auth.grant === "jwt_bearer") {
    try {
      const key = parseSigningKey(auth.clientSecret);
      auth.tokenUrl ||= key.tokenUri ?? "";
      auth.clientId ||= key.clientEmail ?? "";
      if (!key.clientEmail && !auth.clientId.includes("@")) {
        errors.push({ field: "auth.clientId", message: "must be the service account's email when clientSecret is a bare PEM key" });
      }
    } catch (err) {
      if (!(err instanceof KeyMaterialError)) throw err;
      errors.push({ field: "auth.clientSecret", message: err.message });
    }
  }
  if (!auth.clientId) errors.push({ field: "auth.clientId", message: "is required" });
  else if (!SINGLE_LINE_SHORT.test(auth.clientId)) errors.push({ field: "auth.clientId", message: "must be one line of at most 512 characters (check the key file's client_email)" });
  if (!auth.tokenUrl) {
    errors.push({ field: "auth.tokenUrl", message: "is required" });
    return;
  }
  // Also reached with a key file's token_uri, which the schema never saw.
  const url = parseHttpUrl(auth.tokenUrl);
  if (!url) {
    errors.push({ field: "auth.tokenUrl", message: "must be an http(s) URL of at most 2048 characters" });
    return;
  }
  auth.scope ||= (graph ? GRAPH_DEFAULT_SCOPE : defaultScope(auth.tokenUrl)) ?? "";
  if (!auth.scope) errors.push({ field: "auth.scope", message: "is required (there is no default for this provider)" });
  if (url.protocol === "http:" && !options.allowPrivateTargets) {
    errors.push({ field: "auth.tokenUrl", message: "must use https (http is allowed only with NOTIFY_ALLOW_PRIVATE_TARGETS=true)" });
  }
  if (!options.allowPrivateTargets) await checkPublic(url.hostname, "auth.tokenUrl", errors);
}

/** Fills in an omitted or "[redacted]" secret from the stored config. True when it did. */
function keepStoredSecret(config: SmtpConfig, existing: SmtpConfig | null | undefined, errors: FieldError[]): boolean {
  const auth = config.auth;
  if (!auth) return false;
  const given = auth.type === "password" ? auth.password : auth.clientSecret;
  if (given !== undefined && given !== REDACTED && given !== "") return false;
  const stored = existing?.auth;
  if (stored?.type === "password" && auth.type === "password") auth.password = stored.password;
  else if (stored?.type === "oauth" && auth.type === "oauth") auth.clientSecret = stored.clientSecret;
  else {
    errors.push({ field: `auth.${secretField(config)}`, message: "is required" });
    return false;
  }
  return true;
}

/**
 * What the transport decides about the rest of the body: "smtp" needs host and port; "graph"
 * refuses host, port and secure (Graph has its own URL and is always https) and needs OAuth.
 * Run on the raw input next to the schema, so every bad field is reported in one answer.
 */
function transportErrors(input: unknown): FieldError[] {
  if (!input || typeof input !== "object" || Array.isArray(input)) return [];
  const body = input as Record<string, unknown>;
  const errors: FieldError[] = [];
  if (body.transport !== "graph") {
    for (const field of ["host", "port"]) if (body[field] === undefined) errors.push({ field, message: "is required" });
    if (body.graphUrl !== undefined) errors.push({ field: "graphUrl", message: "is allowed only with transport \"graph\"" });
    return errors;
  }
  for (const field of ["host", "port", "secure", "allowInsecureAuth"]) {
    if (body[field] !== undefined) errors.push({ field, message: "is not allowed with transport \"graph\" (it sends to graphUrl over https)" });
  }
  const auth = body.auth as Record<string, unknown> | undefined;
  if (auth === undefined) errors.push({ field: "auth", message: "is required with transport \"graph\" (auth.type \"oauth\")" });
  else if (auth && typeof auth === "object" && auth.type !== undefined && auth.type !== "oauth") {
    errors.push({ field: "auth.type", message: "must be \"oauth\" with transport \"graph\"" });
  }
  return errors;
}

/** Schema errors first; a transport error only for a field the schema had nothing to say about. */
function mergeErrors(first: FieldError[], second: FieldError[]): FieldError[] {
  const seen = new Set(first.map((e) => e.field));
  return [...first, ...second.filter((e) => !seen.has(e.field))];
}

/** graphUrl's default and checks; host, port and secure follow from it (see SmtpConfig.host). */
function deriveFromGraphUrl(config: SmtpConfig, options: ParseConfigOptions, errors: FieldError[]): void {
  config.graphUrl ||= GRAPH_DEFAULT_URL;
  const url = parseHttpUrl(config.graphUrl);
  if (!url || url.search || url.hash || url.username || url.password) {
    errors.push({ field: "graphUrl", message: "must be an http(s) URL without query, fragment or credentials, e.g. https://graph.microsoft.com" });
    config.host = "invalid";
    config.port = 443;
    return;
  }
  if (url.protocol === "http:" && !options.allowPrivateTargets) {
    errors.push({ field: "graphUrl", message: "must use https (http is allowed only with NOTIFY_ALLOW_PRIVATE_TARGETS=true)" });
  }
  // Stored without a trailing slash: requests append /v1.0/users/….
  config.graphUrl = url.href.replace(/\/+$/, "");
  config.host = url.hostname.replace(/^\[|\]$/g, "");
  config.port = url.port ? Number(url.port) : url.protocol === "http:" ? 80 : 443;
  config.secure = url.protocol === "https:";
}

const SINGLE_LINE_SHORT = /^[^\r\n]{1,512}$/;

function parseHttpUrl(text: string): URL | undefined {
  if (text.length > 2048 || !/^https?:\/\/[^\s]+$/.test(text)) return undefined;
  try {
    const url = new URL(text);
    return url.protocol === "https:" || url.protocol === "http:" ? url : undefined;
  } catch {
    return undefined;
  }
}

async function checkPublic(host: string, field: string, errors: FieldError[]): Promise<void> {
  try {
    await assertPublicHost(host);
  } catch (err) {
    if (!(err instanceof PrivateTargetError)) throw err;
    errors.push({ field, message: err.message });
  }
}
