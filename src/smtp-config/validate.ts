// Validates a PUT body into an SmtpConfig: shape (schema), then meaning (TLS rules, private
// targets, readable key material). Every problem is one FieldError.
import { compileValidator, ValidationError, type FieldError } from "../validation.ts";
import { emailAddressSchema } from "../jobs/schemas.ts";
import { assertPublicHost, PrivateTargetError } from "../net/private-address.ts";
import { detectGrant, KeyMaterialError, parseSigningKey } from "../oauth/key-material.ts";
import { defaultScope } from "../oauth/spec.ts";
import { REDACTED, type OAuthAuth, type SmtpConfig } from "./model.ts";

const SINGLE_LINE = "^[^\\r\\n]*$";
const secret = { type: "string", maxLength: 16_384 } as const;

const schema = {
  type: "object",
  additionalProperties: false,
  required: ["host", "port", "fromEmail"],
  properties: {
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
  /** The stored config: an omitted or "[redacted]" secret keeps its stored value. */
  existing?: SmtpConfig | null;
}

export async function parseSmtpConfig(input: unknown, options: ParseConfigOptions): Promise<SmtpConfig> {
  const shapeErrors = validateShape(input);
  if (shapeErrors.length > 0) throw new ValidationError("the SMTP configuration is invalid", shapeErrors);
  const config = structuredClone(input) as SmtpConfig & { limitsSource?: unknown; health?: unknown };
  delete config.limitsSource;
  delete config.health;
  config.secure ??= true;
  const errors: FieldError[] = [];

  keepStoredSecret(config, options.existing, errors);

  if (config.auth?.type === "oauth") await checkOAuth(config.auth, options, errors);
  if (!options.allowPrivateTargets) await checkPublic(config.host, "host", errors);

  if (errors.length > 0) throw new ValidationError("the SMTP configuration is invalid", errors);
  return config;
}

/** Fills in grant, token URL and scope where they can be derived, and checks the key and URL. */
async function checkOAuth(auth: OAuthAuth, options: ParseConfigOptions, errors: FieldError[]): Promise<void> {
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
  if (!auth.tokenUrl) {
    errors.push({ field: "auth.tokenUrl", message: "is required" });
    return;
  }
  auth.scope ||= defaultScope(auth.tokenUrl) ?? "";
  if (!auth.scope) errors.push({ field: "auth.scope", message: "is required (there is no default for this provider)" });
  const url = new URL(auth.tokenUrl);
  if (url.protocol === "http:" && !options.allowPrivateTargets) {
    errors.push({ field: "auth.tokenUrl", message: "must use https (http is allowed only with NOTIFY_ALLOW_PRIVATE_TARGETS=true)" });
  }
  if (!options.allowPrivateTargets) await checkPublic(url.hostname, "auth.tokenUrl", errors);
}

function keepStoredSecret(config: SmtpConfig, existing: SmtpConfig | null | undefined, errors: FieldError[]): void {
  const auth = config.auth;
  if (!auth) return;
  const field = auth.type === "password" ? "password" : "clientSecret";
  const given = auth.type === "password" ? auth.password : auth.clientSecret;
  if (given !== undefined && given !== REDACTED && given !== "") return;
  const stored = existing?.auth;
  if (stored?.type === "password" && auth.type === "password") auth.password = stored.password;
  else if (stored?.type === "oauth" && auth.type === "oauth") auth.clientSecret = stored.clientSecret;
  else errors.push({ field: `auth.${field}`, message: "is required" });
}

async function checkPublic(host: string, field: string, errors: FieldError[]): Promise<void> {
  try {
    await assertPublicHost(host);
  } catch (err) {
    if (!(err instanceof PrivateTargetError)) throw err;
    errors.push({ field, message: err.message });
  }
}
