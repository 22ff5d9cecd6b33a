// The three email job types: what application code sends us, and what a queued job carries.
// Job data never holds a secret: only the project id, the recipient and the template data.

export const EMAIL_TYPES = ["incident", "alert", "status-page"] as const;
export type EmailType = (typeof EMAIL_TYPES)[number];

export type IncidentState = "created" | "acknowledged" | "resolved";

export interface IncidentData {
  incidentId: string;
  title: string;
  state: IncidentState;
  severity: string;
  description?: string;
  monitors?: string[];
  url?: string;
}

export interface AlertData {
  alertId: string;
  title: string;
  state: IncidentState;
  severity: string;
  description?: string;
  url?: string;
}

export interface StatusPageData {
  statusPageId: string;
  statusPageName: string;
  kind: "incident" | "maintenance" | "announcement";
  title: string;
  body: string;
  url?: string;
  unsubscribeUrl?: string;
}

export interface EmailDataByType {
  incident: IncidentData;
  alert: AlertData;
  "status-page": StatusPageData;
}

/** What `POST /v1/emails` and `producer.enqueue()` accept. */
export type EmailRequest = {
  [T in EmailType]: {
    type: T;
    projectId: string;
    to: string[];
    idempotencyKey?: string;
    data: EmailDataByType[T];
  };
}[EmailType];

/** One queued job: one recipient. */
export type EmailJobData = {
  [T in EmailType]: {
    type: T;
    projectId: string;
    to: string;
    data: EmailDataByType[T];
    /** Epoch ms, for end-to-end latency metrics. */
    enqueuedAt: number;
  };
}[EmailType];

/** What a completed job returns (and what the 250 marker remembers). */
export interface SendResult {
  messageId: string;
  response: string;
  /** True when a retry found the 250 marker and did not send again. */
  deduplicated?: boolean;
}

export const MAX_RECIPIENTS = 1000;
export const PROJECT_ID_PATTERN = "^[A-Za-z0-9_-]{1,64}$";

/** Incident and alert mail jumps ahead of status-page mail (BullMQ: lower number first). */
export const PRIORITY: Record<EmailType, number> = { incident: 1, alert: 1, "status-page": 10 };
