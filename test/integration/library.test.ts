// The library as application code gets it: compiled by `npm run build` and imported by plain
// Node (no tsx), enqueueing with the same validation as the API.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { REDIS_URL, deleteKeys, uniquePrefix } from "../helpers/harness.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
// Inside the repository, so the build resolves node_modules like an installed package would.
const outDir = `${root}test/artifacts/dist-${randomBytes(4).toString("hex")}`;
const prefix = uniquePrefix("library");
const redis = new Redis(REDIS_URL);

after(async () => {
  rmSync(outDir, { recursive: true, force: true });
  await deleteKeys(redis, prefix);
  redis.disconnect();
});

test("the built library enqueues from plain Node and rejects bad input with ValidationError", async () => {
  execFileSync(process.execPath, [`${root}node_modules/typescript/bin/tsc`, "-p", "tsconfig.build.json", "--outDir", outDir], { cwd: root, stdio: "pipe" });
  const script = `
    import { createRequire } from "node:module";
    import { createEmailProducer, ValidationError } from ${JSON.stringify(`${outDir}/src/index.js`)};
    // CommonJS packages imported from ESM land in require.cache: what the library pulled in.
    const loaded = Object.keys(createRequire(import.meta.url).cache).map((p) => p.split("node_modules/").pop().split("/")[0]);
    const producer = createEmailProducer({ redis: ${JSON.stringify(REDIS_URL)}, prefix: ${JSON.stringify(prefix)} });
    let rejected = null;
    try { await producer.enqueue({ type: "incident", projectId: "p", to: ["not an address"], data: {} }); }
    catch (err) { rejected = { isValidationError: err instanceof ValidationError, fields: err.details.map((d) => d.field) }; }
    const { jobs } = await producer.enqueue({ type: "alert", projectId: "lib", to: ["a@example.com"], idempotencyKey: "k1",
      data: { alertId: "1", title: "Disk full", state: "created", severity: "high" } });
    await producer.close();
    console.log(JSON.stringify({ rejected, jobs, loaded: [...new Set(loaded)] }));`;
  // No --import tsx: this is what an application without TypeScript tooling runs.
  const result = spawnSync(process.execPath, ["--input-type=module", "-e", script], { cwd: root, encoding: "utf8", timeout: 30_000 });
  assert.equal(result.status, 0, result.stderr);
  const out = JSON.parse(result.stdout.trim()) as { rejected: { isValidationError: boolean; fields: string[] }; jobs: { id: string; to: string }[]; loaded: string[] };
  // The contract: enqueueing loads no HTTP server, SMTP server or mail parser.
  assert.ok(out.loaded.includes("ioredis") && out.loaded.includes("bullmq"), `what enqueueing needs is loaded: ${out.loaded.join(", ")}`);
  for (const heavy of ["fastify", "@bull-board", "smtp-server", "mailparser", "nodemailer", "pino-pretty", "tsx"]) {
    assert.ok(!out.loaded.includes(heavy), `${heavy} is not loaded by the library entry`);
  }
  assert.equal(out.rejected.isValidationError, true);
  assert.deepEqual(out.rejected.fields.sort(), ["data.incidentId", "data.severity", "data.state", "data.title", "to[0]"]);
  assert.equal(out.jobs.length, 1);
  assert.match(out.jobs[0]!.id, /^i-/);
  const stored = await redis.hgetall(`${prefix}:emails:${out.jobs[0]!.id}`);
  assert.equal(JSON.parse(stored.data ?? "{}").to, "a@example.com", "the job is in Redis under the producer's prefix");
});
