// Moves waiting jobs from delayed to waiting at once: a freed slot, a closed breaker.
// A job can be told to wait a moment before its worker has moved it to delayed; promoting it
// then fails, so a failure is retried a few times, briefly. A job that is not delayed at all
// any more (it ran, or it was removed) just stays as it is.
import type { EmailQueue } from "../queue.ts";
import type { Logger } from "../log.ts";

export type Promote = (jobIds: string[]) => void;

export function createPromoter(queue: EmailQueue, log: Logger, retries = 4, retryMs = 150): Promote {
  const one = async (id: string): Promise<void> => {
    for (let attempt = 0; ; attempt++) {
      try {
        await queue.backend.promote(id);
        return;
      } catch (err) {
        if (attempt >= retries) {
          log.debug({ jobId: id, err: { message: (err as Error).message } }, "waiting job not promoted (no longer delayed)");
          return;
        }
        await new Promise((r) => setTimeout(r, retryMs));
      }
    }
  };
  return (jobIds) => {
    for (const id of new Set(jobIds)) void one(id);
  };
}
