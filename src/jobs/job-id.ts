// Job ids. With an idempotency key the id is a digest of (project, type, key, recipient), so
// the same request enqueued twice lands on the same BullMQ job and BullMQ ignores the second.
import { createHash, randomUUID } from "node:crypto";
import type { EmailType } from "./contracts.ts";

export function jobIdFor(projectId: string, type: EmailType, recipient: string, idempotencyKey: string | undefined): string {
  if (idempotencyKey === undefined) return `e-${randomUUID()}`;
  const digest = createHash("sha256")
    .update([projectId, type, idempotencyKey, recipient.toLowerCase()].join("\u0000"))
    .digest("base64url")
    .slice(0, 32);
  return `i-${digest}`;
}
