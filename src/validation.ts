// Schema validation with one error entry per bad field, shared by every input we accept.
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import addFormatsModule from "ajv-formats";

// ajv-formats is CommonJS with a default export; under NodeNext its type is the module object.
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

export interface FieldError {
  /** Dotted path of the bad field, e.g. `data.title` or `to[3]`. */
  field: string;
  message: string;
}

/** Input broke the contract. Maps to HTTP 400 with `details`, and `code` as the error code. */
export class ValidationError extends Error {
  override name = "ValidationError";
  constructor(
    message: string,
    readonly details: FieldError[],
    /** Default "validation_failed"; a more specific code when the client must do one thing (e.g. "secret_required"). */
    readonly code: string = "validation_failed",
  ) {
    super(message);
  }
}

const ajv = addFormats(new Ajv({ allErrors: true, strict: true, allowUnionTypes: true }));

export interface Validator {
  /** Field errors, empty when the value is valid. `base` prefixes every field path. */
  (value: unknown, base?: string): FieldError[];
}

export function compileValidator(schema: object): Validator {
  const validate: ValidateFunction = ajv.compile(schema);
  return (value, base = "") => (validate(value) ? [] : toFieldErrors(validate.errors ?? [], base));
}

function toFieldErrors(errors: ErrorObject[], base: string): FieldError[] {
  const byField = new Map<string, string>();
  for (const error of errors) {
    // "must match then schema" repeats what the errors inside the branch already say.
    if (error.keyword === "if") continue;
    const [field, message] = describe(error, base);
    // One entry per field: the first complaint is the most useful one.
    if (!byField.has(field)) byField.set(field, message);
  }
  return [...byField].map(([field, message]) => ({ field: field || "(body)", message }));
}

function describe(error: ErrorObject, base: string): [string, string] {
  const path = joinPath(base, error.instancePath);
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case "required":
      return [joinPath(path, `/${String(params.missingProperty)}`), "is required"];
    case "additionalProperties":
      return [joinPath(path, `/${String(params.additionalProperty)}`), "is not a known field"];
    case "pattern":
      return [path, /\\r\\n/.test(String(params.pattern)) ? "must not contain line breaks" : `must match ${String(params.pattern)}`];
    case "format":
      return [path, params.format === "email" ? "must be an email address" : `must be a valid ${String(params.format)}`];
    case "enum":
      return [path, `must be one of: ${(params.allowedValues as unknown[]).join(", ")}`];
    default:
      return [path, error.message ?? "is invalid"];
  }
}

/** `data` + `/monitors/2` → `data.monitors[2]`. */
function joinPath(base: string, pointer: string): string {
  let out = base;
  for (const raw of pointer.split("/").slice(1)) {
    const part = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    out = /^\d+$/.test(part) ? `${out}[${part}]` : out ? `${out}.${part}` : part;
  }
  return out;
}
