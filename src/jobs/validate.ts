// Validates an email request: the envelope first, then `data` against its type's schema.
import { EMAIL_TYPES, type EmailRequest, type EmailType } from "./contracts.ts";
import { dataSchemas, emailAddressSchema, emailRequestSchema } from "./schemas.ts";
import { compileValidator, ValidationError, type FieldError } from "../validation.ts";

const validateEnvelope = compileValidator(emailRequestSchema);
const validateData = Object.fromEntries(EMAIL_TYPES.map((t) => [t, compileValidator(dataSchemas[t])])) as Record<
  EmailType,
  ReturnType<typeof compileValidator>
>;

/** Returns the request typed, or throws `ValidationError` with one entry per bad field. */
export function parseEmailRequest(input: unknown): EmailRequest {
  const errors: FieldError[] = validateEnvelope(input);
  const body = input as { type?: unknown; data?: unknown } | null;
  const type = body?.type;
  if (typeof type === "string" && (EMAIL_TYPES as readonly string[]).includes(type) && isObject(body?.data)) {
    errors.push(...validateData[type as EmailType](body.data, "data"));
  }
  if (errors.length > 0) throw new ValidationError("the email request is invalid", errors);
  return input as EmailRequest;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Field errors of a queued job's data (empty when it is sound). The producer only queues valid
 * jobs, but a queue can also be fed by other code or another version, and a malformed job
 * must fail once with a reason rather than retry eight times.
 */
export function checkJobData(job: unknown): FieldError[] {
  const value = job as { type?: unknown; to?: unknown; data?: unknown } | null;
  if (!value || typeof value.type !== "string" || !(EMAIL_TYPES as readonly string[]).includes(value.type)) {
    return [{ field: "type", message: `must be one of: ${EMAIL_TYPES.join(", ")}` }];
  }
  const errors = validateRecipient(value.to, "to");
  return errors.concat(isObject(value.data) ? validateData[value.type as EmailType](value.data, "data") : [{ field: "data", message: "must be an object" }]);
}

const validateRecipient = compileValidator(emailAddressSchema);
