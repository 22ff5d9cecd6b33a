// Rendering remembered per email content. A notification goes to many recipients as one job
// each, all with the same type and data, so a worker renders the same email again and again:
// this renders each distinct (type, data) once and hands out the same result (its strings the
// same objects, which lets compose.ts reuse their encoded parts too). Bounded, least recently
// used first out; rendering is a pure function of (type, data), so there is nothing to expire.
import type { EmailJobData } from "../jobs/contracts.ts";
import { renderEmail, type RenderedEmail } from "./index.ts";

export interface RenderCacheOptions {
  /** Distinct emails kept. Default 128. */
  size?: number;
}

export class RenderCache {
  private readonly entries = new Map<string, RenderedEmail>();
  private readonly size: number;

  constructor(options: RenderCacheOptions = {}) {
    this.size = Math.max(1, options.size ?? 128);
  }

  render(job: EmailJobData): RenderedEmail {
    const key = `${job.type}\u0000${JSON.stringify(job.data)}`;
    const hit = this.entries.get(key);
    if (hit) {
      // Most recently used last: re-insert.
      this.entries.delete(key);
      this.entries.set(key, hit);
      return hit;
    }
    const email = renderEmail(job);
    Object.freeze(email.headers);
    this.entries.set(key, Object.freeze(email));
    if (this.entries.size > this.size) this.entries.delete(this.entries.keys().next().value!);
    return email;
  }
}
