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

function npmScripts(text: string): string[] {
  return [...text.matchAll(/npm\s+run\s+([\w:-]+)/g)].map((m) => m[1] ?? "");
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

    assert.match(commandText(service.command), new RegExp(`npm run ${name}\\b`));
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

test("every `npm run` in the Dockerfile and compose names a package.json script", () => {
  const dockerfile = read("Dockerfile");
  const cmd = dockerfile.match(/^\s*CMD\s+(.+)$/im)?.[1] ?? "";
  assert.match(cmd, /npm.*run.*worker/, "default CMD runs the worker");
  const used = new Set([
    ...npmScripts(commandText(JSON.parse(cmd) as unknown)),
    ...Object.values(services).flatMap((s) => npmScripts(commandText(obj(s, "service").command))),
  ]);
  assert.deepEqual([...used].sort(), ["api", "worker"]);
  for (const script of used) assert.equal(typeof scripts[script], "string", `package.json has script "${script}"`);
});
