// No Docker engine runs in CI, so the deployment files are checked by reading them.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, existsSync } from "node:fs";
import { parse } from "yaml";

const root = new URL("../../", import.meta.url);
const read = (name: string): string => readFileSync(new URL(name, root), "utf8");

type Obj = Record<string, unknown>;

function obj(value: unknown, what: string): Obj {
  assert.ok(value !== null && typeof value === "object" && !Array.isArray(value), `${what} must be a mapping`);
  return value as Obj;
}

/** Compose accepts `environment` as a mapping or as a list of KEY=VALUE. */
function environment(service: Obj): Record<string, string> {
  const env = service.environment;
  if (Array.isArray(env)) {
    return Object.fromEntries(env.map((entry) => {
      const text = String(entry);
      const eq = text.indexOf("=");
      return eq === -1 ? [text, ""] : [text.slice(0, eq), text.slice(eq + 1)];
    }));
  }
  return Object.fromEntries(Object.entries(obj(env, "environment")).map(([k, v]) => [k, v == null ? "" : String(v)]));
}

function commandText(value: unknown): string {
  return Array.isArray(value) ? value.map(String).join(" ") : String(value ?? "");
}

const compose = obj(parse(read("docker-compose.yml")), "docker-compose.yml");
const services = obj(compose.services, "services");
const pkg = obj(JSON.parse(read("package.json")), "package.json");
const scripts = obj(pkg.scripts ?? {}, "package.json scripts");

test("compose declares redis, api and worker", () => {
  assert.deepEqual(Object.keys(services).sort(), ["api", "redis", "worker"]);
});

test("redis persists to a named volume and has a healthcheck", () => {
  const redis = obj(services.redis, "redis");
  assert.match(commandText(redis.command), /--appendonly\s+yes/);
  const test = commandText(obj(redis.healthcheck, "redis.healthcheck").test);
  assert.match(test, /redis-cli/);
  assert.match(test, /ping/);
  const volumes = (redis.volumes as unknown[] | undefined) ?? [];
  assert.ok(volumes.map(String).some((v) => v.startsWith("redis-data:")), "redis-data mounted");
  assert.ok("redis-data" in obj(compose.volumes, "top-level volumes"), "redis-data declared at top level");
});

for (const name of ["api", "worker"]) {
  test(`${name} waits for a healthy redis and gets the production settings`, () => {
    const service = obj(services[name], name);
    const redisDep = obj(obj(service.depends_on, `${name}.depends_on`).redis, `${name}.depends_on.redis`);
    assert.equal(redisDep.condition, "service_healthy");

    const env = environment(service);
    assert.equal(env.NODE_ENV, "production");
    assert.match(env.REDIS_URL ?? "", /^redis:\/\/redis:6379/);
    // Required secrets come from the host; compose refuses to start without them.
    assert.match(env.NOTIFY_MASTER_KEY ?? "", /^\$\{NOTIFY_MASTER_KEY:\?/);
    assert.match(env.NOTIFY_ADMIN_TOKEN ?? "", /^\$\{NOTIFY_ADMIN_TOKEN:\?/);

    assertDirectNode(service.command, name === "api" ? "workers/api.ts" : "workers/email-worker.ts", `${name}.command`);
  });
}

test("api publishes its port and has an HTTP healthcheck", () => {
  const api = obj(services.api, "api");
  assert.ok(((api.ports as unknown[] | undefined) ?? []).map(String).includes("3000:3000"));
  assert.match(commandText(obj(api.healthcheck, "api.healthcheck").test), /\/healthz/);
});

test("worker can be scaled: no ports, no container_name", () => {
  const worker = obj(services.worker, "worker");
  assert.equal(worker.ports, undefined);
  assert.equal(worker.container_name, undefined);
});

test("Dockerfile runs as a non-root user", () => {
  assert.ok(existsSync(new URL("Dockerfile", root)), "Dockerfile exists");
  const users = [...read("Dockerfile").matchAll(/^\s*USER\s+(\S+)/gim)].map((m) => m[1] ?? "");
  const last = users.at(-1);
  assert.ok(last, "Dockerfile sets USER");
  assert.ok(!["root", "0", "0:0", "root:root"].includes(last), `USER ${last} is not root`);
});

test("the Dockerfile's default command is the worker, started by node directly", () => {
  const cmd = read("Dockerfile").match(/^\s*CMD\s+(.+)$/im)?.[1] ?? "";
  assertDirectNode(JSON.parse(cmd) as unknown, "workers/email-worker.ts", "Dockerfile CMD");
});

/**
 * Exec form with node first: `npm run` or `sh -c` in between would swallow `docker stop`'s
 * SIGTERM (dash does not forward it), and workers would be killed mid-send.
 */
function assertDirectNode(command: unknown, entry: string, where: string): void {
  assert.ok(Array.isArray(command), `${where} uses the exec (array) form`);
  const parts = (command as unknown[]).map(String);
  assert.equal(parts[0], "node", `${where} starts node itself`);
  assert.ok(parts.includes("tsx"), `${where} loads tsx`);
  assert.equal(parts.at(-1), entry, `${where} runs ${entry}`);
  assert.ok(existsSync(new URL(entry, root)), `${entry} exists`);
  assert.ok(Object.values(scripts).some((script) => String(script).includes(entry)), `a package.json script runs ${entry} too`);
}
