// Starts delivery with metrics wired in; shared by email-worker.ts and main.ts.
import { startDelivery, type Delivery } from "../src/delivery/start.ts";
import type { Booted } from "./boot.ts";

export async function startWorker(booted: Booted): Promise<Delivery> {
  const { settings, log, services, metrics, onShutdown } = booted;
  const delivery = await startDelivery(services, settings, log, { observer: metrics.delivery, tokenObserver: metrics.tokens });
  metrics.trackTransports(() => delivery.transports.size);
  onShutdown(() => delivery.stop());
  return delivery;
}
