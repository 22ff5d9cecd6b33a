// Bull Board at /admin/queues, behind the admin token (Basic auth works for browsers), and
// refusing changes that another site's page asks a logged-in browser to make.
import type { FastifyInstance } from "fastify";
import { createBullBoard } from "@bull-board/api";
import { FastifyAdapter } from "@bull-board/fastify";
import type { Redis } from "ioredis";
import type { EmailQueue } from "../queue.ts";
import { EmailBoardAdapter } from "./board-view.ts";
import type { MailboxAdmin } from "../mailbox/admin.ts";
import { adminAuth } from "./auth.ts";
import type { AuthThrottle } from "./auth-throttle.ts";
import { requireSameOrigin } from "./same-origin.ts";

export const BOARD_PATH = "/admin/queues";

export interface BoardOptions {
  queue: EmailQueue;
  redis: Redis;
  adminToken: string;
  throttle?: AuthThrottle;
  /** Why delayed jobs wait for a mailbox (rate limit, throttling, breaker). */
  mailboxes?: MailboxAdmin;
}

export async function boardRoutes(app: FastifyInstance, opts: BoardOptions): Promise<void> {
  const serverAdapter = new FastifyAdapter();
  serverAdapter.setBasePath(BOARD_PATH);
  createBullBoard({
    queues: [new EmailBoardAdapter(opts.queue, opts.redis, { displayName: "Email deliveries", description: "incident, alert and status-page email" }, opts.mailboxes)],
    serverAdapter,
    options: { uiConfig: { boardTitle: "notify-smtp" } },
  });
  // Origin first: a forged request is refused as such, and is not counted as a bad password.
  app.addHook("onRequest", requireSameOrigin);
  app.addHook("onRequest", adminAuth({ adminToken: opts.adminToken, schemes: ["bearer", "basic"], basicChallenge: true, throttle: opts.throttle }));
  await app.register(serverAdapter.registerPlugin(), { prefix: BOARD_PATH });
}
