// `npm run worker`: one email worker process. Run as many as you need; they share the queue.
import { boot } from "./boot.ts";
import { startDelivery } from "../src/delivery/start.ts";

const { settings, log, services, onShutdown } = await boot("worker");
const delivery = await startDelivery(services, settings, log);
onShutdown(() => delivery.stop());
