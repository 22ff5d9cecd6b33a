// JSON Schemas for the email request, shared by the HTTP route and the library producer so
// both reject exactly the same input.
import { MAX_RECIPIENTS, PROJECT_ID_PATTERN, type EmailType } from "./contracts.ts";

/** A value that ends up in a mail header (subject, address, List-Unsubscribe): no CR or LF. */
const SINGLE_LINE = "^[^\\r\\n]*$";

const line = (maxLength: number) => ({ type: "string", minLength: 1, maxLength, pattern: SINGLE_LINE }) as const;
const text = (maxLength: number) => ({ type: "string", maxLength }) as const;
const httpUrl = { type: "string", maxLength: 2048, pattern: "^https?://[^\\s]+$" } as const;
const state = { type: "string", enum: ["created", "acknowledged", "resolved"] } as const;

export const emailAddressSchema = { type: "string", maxLength: 254, format: "email", pattern: SINGLE_LINE } as const;

export const emailRequestSchema = {
  type: "object",
  additionalProperties: false,
  required: ["type", "projectId", "to", "data"],
  properties: {
    type: { type: "string", enum: ["incident", "alert", "status-page"] },
    projectId: { type: "string", pattern: PROJECT_ID_PATTERN },
    to: { type: "array", minItems: 1, maxItems: MAX_RECIPIENTS, items: emailAddressSchema },
    idempotencyKey: line(256),
    data: { type: "object" },
  },
} as const;

export const dataSchemas: Record<EmailType, object> = {
  incident: {
    type: "object",
    additionalProperties: false,
    required: ["incidentId", "title", "state", "severity"],
    properties: {
      incidentId: line(128),
      title: line(300),
      state,
      severity: line(64),
      description: text(20_000),
      monitors: { type: "array", maxItems: 100, items: line(300) },
      url: httpUrl,
    },
  },
  alert: {
    type: "object",
    additionalProperties: false,
    required: ["alertId", "title", "state", "severity"],
    properties: {
      alertId: line(128),
      title: line(300),
      state,
      severity: line(64),
      description: text(20_000),
      url: httpUrl,
    },
  },
  "status-page": {
    type: "object",
    additionalProperties: false,
    required: ["statusPageId", "statusPageName", "kind", "title", "body"],
    properties: {
      statusPageId: line(128),
      statusPageName: line(200),
      kind: { type: "string", enum: ["incident", "maintenance", "announcement"] },
      title: line(300),
      body: { type: "string", minLength: 1, maxLength: 50_000 },
      url: httpUrl,
      unsubscribeUrl: httpUrl,
    },
  },
};
