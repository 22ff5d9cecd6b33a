// Bull Board at /admin/queues, behind the admin token (Basic auth works for browsers).
import type { FastifyInstance } from "fastify";
import { createBullBoard } from "@bull-board/api";
import { FastifyAdapter } from "@bull-board/fastify";
import type { Redis } from "ioredis";
import type { EmailQueue } from "../queue.ts";
import { EmailBoardAdapter } from "./board-view.ts";
import { adminAuth } from "./auth.ts";

export const BOARD_PATH = "/admin/queues";

export async function boardRoutes(app: FastifyInstance, opts: { queue: EmailQueue; redis: Redis; adminToken: string }): Promise<void> {
  const serverAdapter = new FastifyAdapter();
  serverAdapter.setBasePath(BOARD_PATH);
  createBullBoard({
    queues: [new EmailBoardAdapter(opts.queue, opts.redis, { displayName: "Email deliveries", description: "incident, alert and status-page email" })],
    serverAdapter,
    options: { uiConfig: { boardTitle: "notify-smtp" } },
  });
  app.addHook("onRequest", adminAuth({ adminToken: opts.adminToken, basicChallenge: true }));
  await app.register(serverAdapter.registerPlugin(), { prefix: BOARD_PATH });
}
