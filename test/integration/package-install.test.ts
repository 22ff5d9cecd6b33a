// The package as an application gets it: `npm pack`, then `npm install <tarball> --omit=dev`
// into an empty project, then plain Node enqueues through `createEmailProducer`. Proves the
// tarball is complete (dist/ is built by prepack), installs without engine warnings, needs no
// TypeScript tooling or dev inbox, and reports what an application pays in packages and bytes.
// Uses the registry (or npm's cache) for the dependencies.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { REDIS_URL, deleteKeys, uniquePrefix } from "../helpers/harness.ts";
import { PROJECT_ROOT, spawnChildWorker } from "../helpers/child-worker.ts";

const prefix = uniquePrefix("package-install");
const redis = new Redis(REDIS_URL);
const dir = mkdtempSync(join(tmpdir(), "notify-pack-"));

after(async () => {
  rmSync(dir, { recursive: true, force: true });
  await deleteKeys(redis, prefix);
  redis.disconnect();
});

/** npm itself, run by this Node (so an engine check sees this Node's version). */
function npm(args: string[], cwd: string): { stdout: string; stderr: string } {
  const npmCli = join(PROJECT_ROOT, "node_modules", ".bin", "npm");
  const command = existsSync(npmCli) ? npmCli : "npm";
  const result = spawnSync(command, args, { cwd, encoding: "utf8", timeout: 300_000, env: { ...process.env, npm_config_update_notifier: "false" } });
  assert.equal(result.status, 0, `npm ${args.join(" ")}\n${result.stdout}\n${result.stderr}`);
  return { stdout: result.stdout, stderr: result.stderr };
}

function sizeOf(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.size;
  return readdirSync(path).reduce((sum, entry) => sum + sizeOf(join(path, entry)), 0);
}

test("npm pack → npm install --omit=dev in an empty project → plain Node enqueues", { timeout: 600_000 }, async (t) => {
  const packed = npm(["pack", "--pack-destination", dir, "--json"], PROJECT_ROOT);
  const [{ filename, files }] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf("["))) as [{ filename: string; files: { path: string }[] }];
  const paths = files.map((f) => f.path);
  assert.ok(paths.includes("dist/src/index.js") && paths.includes("dist/src/index.d.ts"), "the compiled entry and its types are packed");
  assert.ok(paths.includes("dist/workers/email-worker.js"), "the compiled roles are packed");
  assert.ok(!paths.some((p) => p.startsWith("test/") || p.startsWith("src/") || p === ".env"), "no tests, sources or .env in the tarball");

  const appDir = join(dir, "app");
  execFileSync("mkdir", ["-p", appDir]);
  writeFileSync(join(appDir, "package.json"), JSON.stringify({ name: "an-application", version: "1.0.0", private: true, type: "module" }));
  const installed = npm(["install", join(dir, filename), "--omit=dev", "--no-audit", "--no-fund", "--prefer-offline"], appDir);
  assert.doesNotMatch(installed.stderr, /EBADENGINE/, "no engine warning");

  const modules = join(appDir, "node_modules");
  for (const absent of ["tsx", "typescript", "esbuild", "smtp-server", "mailparser", "pino-pretty", "playwright-core"]) {
    assert.ok(!existsSync(join(modules, absent)), `${absent} is not installed for an application`);
  }
  const script = `
    import { createRequire } from "node:module";
    import { createEmailProducer } from "notify-smtp";
    const producer = createEmailProducer({ redis: ${JSON.stringify(REDIS_URL)}, prefix: ${JSON.stringify(prefix)} });
    const { jobs } = await producer.enqueue({ type: "incident", projectId: "app", to: ["oncall@example.com"],
      data: { incidentId: "1", title: "From an installed package", state: "created", severity: "critical" } });
    await producer.close();
    const loaded = Object.keys(createRequire(import.meta.url).cache).map((p) => p.split("node_modules/").pop().split("/")[0]);
    console.log(JSON.stringify({ jobs, loaded: [...new Set(loaded)] }));`;
  const run = spawnSync(process.execPath, ["--input-type=module", "-e", script], { cwd: appDir, encoding: "utf8", timeout: 30_000 });
  assert.equal(run.status, 0, run.stderr);
  const out = JSON.parse(run.stdout.trim()) as { jobs: { id: string }[]; loaded: string[] };
  assert.equal(out.jobs.length, 1);
  const stored = await redis.hgetall(`${prefix}:emails:${out.jobs[0]!.id}`);
  assert.equal(JSON.parse(stored.data ?? "{}").data?.title, "From an installed package");
  for (const heavy of ["fastify", "@bull-board", "nodemailer", "pino-pretty"]) assert.ok(!out.loaded.includes(heavy), `${heavy} loaded to enqueue`);

  // The bin runs from dist/ without tsx.
  const help = spawnSync(process.execPath, [join(modules, "notify-smtp", "bin", "notify-smtp.js"), "--help"], { cwd: appDir, encoding: "utf8", timeout: 30_000 });
  assert.equal(help.status, 0, help.stderr);
  assert.match(help.stdout, /^notify-smtp: operate/);

  // Development mode from a production install: no dev inbox to load, so it says so and runs on.
  const main = spawnChildWorker({
    script: join(modules, "notify-smtp", "dist", "workers", "main.js"),
    name: "installed-main",
    cwd: appDir,
    node: true,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", REDIS_URL, NOTIFY_PREFIX: prefix, PORT: "0" },
  });
  try {
    const warning = await main.waitForLog((l) => /the dev inbox is not installed/.test(String(l.msg)), 30_000, "the missing dev inbox warning");
    assert.match(String(warning.msg), /npm ci.*without --omit=dev.*DEFAULT_SMTP_URL/);
    await main.waitForLog((l) => l.msg === "API listening", 30_000, "the API");
  } finally {
    await main.kill("SIGTERM");
  }

  const packages = readdirSync(modules).flatMap((entry) => (entry.startsWith("@") ? readdirSync(join(modules, entry)).map((e) => `${entry}/${e}`) : entry.startsWith(".") ? [] : [entry]));
  t.diagnostic(`installed for an application: ${packages.length} packages at the top level, ${(sizeOf(modules) / 1e6).toFixed(1)} MB in node_modules; tarball ${(statSync(join(dir, filename)).size / 1e3).toFixed(0)} kB`);
});
