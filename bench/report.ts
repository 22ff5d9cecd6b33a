// The printed table and bench/results.json.
import { writeFileSync } from "node:fs";
import { availableParallelism, cpus } from "node:os";
import { CEILING_INFLIGHT, CONCURRENCY, COUNT, POOL, RESULTS_FILE, TARGET_RATIO, WARMUP, round } from "./config.ts";
import type { CpuPercent } from "./cpu.ts";
import type { PhaseResult, ProductResult } from "./phases.ts";

export interface Results {
  ceiling: PhaseResult;
  transportCeiling: PhaseResult;
  product: ProductResult;
  /** The product with generous limits on the config (never binding). */
  productWithLimits: ProductResult;
  loadAtStart: number;
}

function fmtMs(ms: number | null): string {
  return ms === null ? "n/a" : `${ms.toFixed(2)} ms`;
}

function fmtPct(cpu: CpuPercent): string {
  return Object.entries(cpu)
    .filter(([, v]) => v !== null)
    .map(([k, v]) => `${k} ${v}%`)
    .join(", ");
}

const fmtRate = (phase: PhaseResult | ProductResult["enqueue"]) => `${Math.round(phase.emailsPerSec)} emails/s  (${phase.seconds.toFixed(2)} s)`;

/**
 * What the ratio would be if both senders were CPU-bound on cores of their own: far less
 * sensitive to other programs on the machine than the wall-clock ratio.
 */
function cpuRatio(reference: PhaseResult, product: PhaseResult): number | null {
  return reference.senderCpuMsPerEmail && product.senderCpuMsPerEmail ? reference.senderCpuMsPerEmail / product.senderCpuMsPerEmail : null;
}

function phaseJson(phase: PhaseResult) {
  return {
    emailsPerSec: round(phase.emailsPerSec, 1),
    seconds: round(phase.seconds, 3),
    cpuPercent: phase.cpuPercent,
    senderCpuMsPerEmail: phase.senderCpuMsPerEmail,
  };
}

/** Prints the table and verdict, and writes bench/results.json. */
/** What the sending-limit gate costs per email (src/mailbox/), from bench/round-trips.ts. */
const GATE_NOTE =
  "Redis commands per email on the worker's own connection: 1 without the gate (the 250 marker), 2 with limits that do not bind (+1 EVALSHA acquire; nothing after the send); BullMQ's unchanged";

export function report({ ceiling, transportCeiling, product, productWithLimits, loadAtStart }: Results): void {
  const delivery = product.delivery;
  const limited = productWithLimits.delivery;
  const limitsRatio = limited.emailsPerSec / delivery.emailsPerSec;
  const ratio = delivery.emailsPerSec / ceiling.emailsPerSec;
  const transportRatio = delivery.emailsPerSec / transportCeiling.emailsPerSec;
  const met = ratio >= TARGET_RATIO;
  const cpu = cpuRatio(ceiling, delivery);
  const transportCpu = cpuRatio(transportCeiling, delivery);
  const cpuModel = cpus()[0]?.model.trim() ?? "unknown";
  const cpuRatios = [cpu === null ? null : `ratio ${cpu.toFixed(3)}`, transportCpu === null ? null : `vs transport ceiling ${transportCpu.toFixed(3)}`].filter((s): s is string => s !== null);

  const rows: [string, string][] = [
    ["ceiling", fmtRate(ceiling)],
    ["transport ceiling", fmtRate(transportCeiling)],
    ["product", fmtRate(delivery)],
    ["product, generous limits", `${fmtRate(limited)}  (${limitsRatio.toFixed(3)} of product; worker ${fmtMs(limited.senderCpuMsPerEmail)}/email)`],
    ["ratio", `${ratio.toFixed(3)}  (target ${TARGET_RATIO})`],
    ["ratio vs transport ceiling", transportRatio.toFixed(3)],
    ["enqueue", fmtRate(product.enqueue)],
    ["worker peak RSS", product.workerPeakRssMb === null ? "n/a" : `${Math.round(product.workerPeakRssMb)} MB`],
    ["cpu, ceiling", fmtPct(ceiling.cpuPercent)],
    ["cpu, transport ceiling", fmtPct(transportCeiling.cpuPercent)],
    ["cpu, product", fmtPct(delivery.cpuPercent)],
    [
      "sender cpu/email",
      `ceiling ${fmtMs(ceiling.senderCpuMsPerEmail)}, transport ceiling ${fmtMs(transportCeiling.senderCpuMsPerEmail)}, worker ${fmtMs(delivery.senderCpuMsPerEmail)}` +
        (cpuRatios.length > 0 ? `  (${cpuRatios.join(", ")})` : ""),
    ],
    ["failed jobs", String(product.failedJobs + productWithLimits.failedJobs)],
    ["node", `${process.version}, ${availableParallelism()} cpus (${cpuModel}), load ${loadAtStart.toFixed(2)} at start`],
  ];
  const width = Math.max(...rows.map(([k]) => k.length)) + 2;
  process.stdout.write("\n" + rows.map(([k, v]) => `${k.padEnd(width)}${v}`).join("\n") + "\n\n");
  process.stdout.write(
    met
      ? `target met: the product delivers at ${ratio.toFixed(3)} of the ceiling (>= ${TARGET_RATIO})\n`
      : `BELOW TARGET: the product delivers at ${ratio.toFixed(3)} of the ceiling (target >= ${TARGET_RATIO})\n`,
  );
  process.stdout.write(
    "note: the product composes messages itself (src/delivery/compose.ts) while the ceiling uses nodemailer's composer; " +
      "the ratio vs transport ceiling, where nodemailer sends the product's own pre-composed bytes, compares transport work only\n",
  );
  const otherMax = Math.max(ceiling.cpuPercent.other ?? 0, transportCeiling.cpuPercent.other ?? 0, delivery.cpuPercent.other ?? 0);
  if (otherMax >= 20) {
    process.stdout.write(`note: other programs used up to ${otherMax}% of a core during the phases; the ratio is noisy, run again on a quiet machine\n`);
  }
  process.stdout.write(`note: ${GATE_NOTE}\n`);
  if (product.failedJobs + productWithLimits.failedJobs > 0) process.stdout.write(`warning: ${product.failedJobs + productWithLimits.failedJobs} jobs failed; see bench/worker.log\n`);

  const results = {
    date: new Date().toISOString(),
    emails: COUNT,
    warmup: WARMUP,
    workerConcurrency: CONCURRENCY,
    ceilingInflight: CEILING_INFLIGHT,
    pool: POOL,
    ceiling: phaseJson(ceiling),
    transportCeiling: phaseJson(transportCeiling),
    product: { ...phaseJson(delivery), failedJobs: product.failedJobs },
    productWithLimits: { ...phaseJson(limited), failedJobs: productWithLimits.failedJobs, ratioToProduct: round(limitsRatio, 3), redisCommandsPerEmail: { withoutGate: 1, withGate: 2 } },
    ratio: round(ratio, 3),
    ratioVsTransportCeiling: round(transportRatio, 3),
    cpuRatio: cpu === null ? null : round(cpu, 3),
    cpuRatioVsTransportCeiling: transportCpu === null ? null : round(transportCpu, 3),
    enqueue: { emailsPerSec: round(product.enqueue.emailsPerSec, 1), seconds: round(product.enqueue.seconds, 3) },
    workerPeakRssMb: product.workerPeakRssMb === null ? null : round(product.workerPeakRssMb, 1),
    target: { ratio: TARGET_RATIO, met, against: "ceiling" },
    environment: { node: process.version, cpus: availableParallelism(), cpuModel, platform: `${process.platform}-${process.arch}`, loadAverageAtStart: round(loadAtStart, 2) },
  };
  writeFileSync(RESULTS_FILE, JSON.stringify(results, null, 2) + "\n");
  process.stdout.write(`wrote ${RESULTS_FILE}\n`);
}
