// The job states the API lists (GET /v1/jobs?state=…) and the CLI asks for. Its own module so
// the CLI can name them without loading the HTTP layer.
export const LISTABLE_STATES = ["failed", "delayed", "waiting", "active", "completed"] as const;
export type ListableState = (typeof LISTABLE_STATES)[number];
