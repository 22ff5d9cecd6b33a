// `npm run worker`: one email worker process. Run as many as you need; they share the queue.
// With METRICS_PORT set it also serves /metrics and /healthz for scrapers and orchestrators.
import Fastify from "fastify";
import { boot } from "./boot.ts";
import { startWorker } from "./start-worker.ts";
import { metricsRoutes } from "../src/http/metrics.ts";
import { useSharedDevInbox } from "./dev-inbox.ts";
import { printDevToken } from "./banner.ts";

const booted = await boot("worker");
printDevToken(booted.settings);
await useSharedDevInbox(booted);
await startWorker(booted);
const { settings, metrics, log, onShutdown } = booted;
if (settings.metricsPort) {
  const app = Fastify();
  app.get("/healthz", async () => ({ ok: true }));
  await app.register(metricsRoutes, { metrics });
  await app.listen({ host: settings.host, port: settings.metricsPort });
  onShutdown(() => app.close());
  log.info({ url: `http://${settings.host}:${settings.metricsPort}/metrics` }, "metrics listening");
}
