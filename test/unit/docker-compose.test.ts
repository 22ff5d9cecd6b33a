// No Docker engine runs in CI, so the deployment files are checked by reading them: the compose
// file (with YAML merge keys, as Compose reads it), the Dockerfile, .dockerignore, and what they
// rely on in package.json and tsconfig.build.json.
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

const list = (value: unknown): string[] => (Array.isArray(value) ? value.map(String) : []);

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

const compose = obj(parse(read("docker-compose.yml"), { merge: true }), "docker-compose.yml");
const services = obj(compose.services, "services");
const pkg = obj(JSON.parse(read("package.json")), "package.json");
const scripts = obj(pkg.scripts ?? {}, "package.json scripts");
const dockerfile = read("Dockerfile");
const app = (name: "api" | "worker") => obj(services[name], name);

test("compose declares redis, api and worker", () => {
  assert.deepEqual(Object.keys(services).sort(), ["api", "redis", "worker"]);
});

test("redis: AOF, noeviction, a password, a healthcheck that logs in, a named volume, loopback only", () => {
  const redis = obj(services.redis, "redis");
  const command = commandText(redis.command);
  assert.match(command, /--appendonly\s+yes/);
  assert.match(command, /--maxmemory-policy\s+noeviction/);
  assert.match(command, /--requirepass\s+\$\{REDIS_PASSWORD:\?[^}]+\}/, "a password compose refuses to start without");
  const check = commandText(obj(redis.healthcheck, "redis.healthcheck").test);
  assert.match(check, /redis-cli/);
  assert.match(check, /ping/);
  assert.match(environment(redis).REDISCLI_AUTH ?? "", /^\$\{REDIS_PASSWORD/, "redis-cli authenticates");
  assert.ok(list(redis.volumes).some((v) => v.startsWith("redis-data:")), "redis-data mounted");
  assert.ok("redis-data" in obj(compose.volumes, "top-level volumes"), "redis-data declared at top level");
  for (const port of list(redis.ports)) assert.match(port, /^127\.0\.0\.1:/, `redis port ${port} is loopback only`);
});

test("one image, built once: api builds it, the worker runs the same image without building", () => {
  const api = app("api");
  const worker = app("worker");
  assert.ok(api.build, "api builds the image");
  assert.equal(worker.build, undefined, "a second build section would build the image again");
  assert.ok(typeof api.image === "string" && api.image.length > 0);
  assert.equal(worker.image, api.image, "the worker runs what api built (Compose builds it before starting either)");
});

for (const name of ["api", "worker"] as const) {
  test(`${name}: healthy redis first, production settings, the secrets as files, node running dist/`, () => {
    const service = app(name);
    assert.equal(obj(obj(service.depends_on, `${name}.depends_on`).redis, "redis dep").condition, "service_healthy");
    const env = environment(service);
    assert.equal(env.NODE_ENV, "production");
    assert.match(env.REDIS_URL ?? "", /^redis:\/\/:\$\{REDIS_PASSWORD:\?[^}]+\}@redis:6379$/, "REDIS_URL carries the password");
    for (const [variable, secret] of [["NOTIFY_MASTER_KEY", "notify_master_key"], ["NOTIFY_ADMIN_TOKEN", "notify_admin_token"]] as const) {
      assert.equal(env[variable], undefined, `${variable} is not a plain environment variable`);
      assert.equal(env[`${variable}_FILE`], `/run/secrets/${secret}`);
      assert.ok(list(service.secrets).includes(secret), `${name} mounts the ${secret} secret`);
      assert.ok(obj(obj(compose.secrets, "top-level secrets")[secret], secret).file, `${secret} comes from a file`);
    }
    assertDirectNode(service.command, name === "api" ? "api" : "email-worker", `${name}.command`);
    assert.equal(service.init, true, "an init reaps children and forwards signals");
  });
}

test("every setting in .env.example reaches the containers that use it (or its _FILE variant)", () => {
  const names = [...read(".env.example").matchAll(/^#?\s*([A-Z][A-Z0-9_]+)=/gm)].map((m) => m[1]!);
  assert.ok(names.length > 10, "the variables of .env.example were found");
  const notFor: Record<string, string[]> = {
    api: ["WORKER_CONCURRENCY", "METRICS_PORT"],
    worker: ["PORT"],
  };
  for (const name of ["api", "worker"] as const) {
    const env = environment(app(name));
    for (const variable of names) {
      if (notFor[name]!.includes(variable)) continue;
      assert.ok(variable in env || `${variable}_FILE` in env, `${variable} is not passed to ${name}`);
    }
  }
  const env = environment(app("worker"));
  for (const variable of ["NOTIFY_ALLOW_PRIVATE_TARGETS", "JOB_ATTEMPTS", "JOB_BACKOFF_MS", "JOB_BACKOFF_MAX_MS", "NODE_EXTRA_CA_CERTS"]) {
    assert.equal(env[variable], `\${${variable}:-}`, `${variable} passes through, empty meaning the default`);
  }
});

test("a CA directory is mounted read-only where NODE_EXTRA_CA_CERTS can point", () => {
  for (const name of ["api", "worker"] as const) {
    assert.ok(list(app(name).volumes).some((v) => /:\/etc\/notify-smtp\/ca:ro$/.test(v)), `${name} mounts the CA directory`);
  }
});

test("api publishes its port on loopback only and checks /healthz", () => {
  const api = app("api");
  assert.deepEqual(list(api.ports), ["127.0.0.1:3000:3000"]);
  assert.match(commandText(obj(api.healthcheck, "api.healthcheck").test), /node dist\/workers\/healthcheck\.js/);
  assert.match(read("workers/healthcheck.ts"), /\/healthz/);
});

test("worker: scalable (no ports, no container_name), metrics on METRICS_PORT, a healthcheck, a drain grace period", () => {
  const worker = app("worker");
  assert.equal(worker.ports, undefined);
  assert.equal(worker.container_name, undefined);
  const env = environment(worker);
  assert.match(env.METRICS_PORT ?? "", /^\$\{METRICS_PORT:-9464\}$/, "a worker always serves /metrics and /healthz");
  assert.deepEqual(list(worker.expose), ["9464"], "scrapeable on the compose network");
  assert.match(commandText(obj(worker.healthcheck, "worker.healthcheck").test), /node dist\/workers\/healthcheck\.js/);
  assert.match(read("workers/healthcheck.ts"), /METRICS_PORT/);
  assert.match(String(worker.stop_grace_period), /^\d+s$/);
});

test("Dockerfile: multi-stage on a supported Node LTS, slim, non-root, a HEALTHCHECK, dist/ only", () => {
  const stages = [...dockerfile.matchAll(/^\s*FROM\s+(\S+)/gim)].map((m) => m[1]!);
  assert.ok(stages.length >= 2, "a build stage and a runtime stage");
  const defaultImage = /^\s*ARG\s+NODE_IMAGE=(\S+)/m.exec(dockerfile)?.[1];
  const runtime = stages.at(-1)!.replace("${NODE_IMAGE}", defaultImage ?? "");
  assert.match(runtime, /^node:(22|24)(\.\d+)*-(bookworm-|trixie-)?slim$/, `runtime image ${runtime}`);
  const users = [...dockerfile.matchAll(/^\s*USER\s+(\S+)/gim)].map((m) => m[1] ?? "");
  assert.ok(users.length > 0, "Dockerfile sets USER");
  assert.ok(!["root", "0", "0:0", "root:root"].includes(users.at(-1)!), `USER ${users.at(-1)} is not root`);
  assert.match(dockerfile, /^\s*HEALTHCHECK\s.*CMD\s+\["node", "dist\/workers\/healthcheck\.js"\]/m);
  const runtimeStage = dockerfile.slice(dockerfile.lastIndexOf("FROM "));
  assert.match(dockerfile, /npm ci\b/);
  assert.match(dockerfile, /npm run build/);
  assert.match(dockerfile, /--omit=dev/, "the runtime keeps production dependencies only");
  assert.doesNotMatch(runtimeStage, /tsx|COPY\s+(\.|src)\s/, "the runtime stage neither runs tsx nor copies sources");
  assert.match(runtimeStage, /COPY --from=\S+ \/app\/dist /);
  const cmd = runtimeStage.match(/^\s*CMD\s+(.+)$/im)?.[1] ?? "";
  assertDirectNode(JSON.parse(cmd) as unknown, "email-worker", "Dockerfile CMD");
});

test(".dockerignore keeps secrets, local state, tests and the benchmark out of the image", () => {
  const patterns = read(".dockerignore").split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
  const ignored = (path: string) => {
    let out = false;
    for (const pattern of patterns) {
      const negate = pattern.startsWith("!");
      const glob = negate ? pattern.slice(1) : pattern;
      const re = new RegExp(`^${glob.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, "[^/]*")}(/.*)?$`);
      if (re.test(path)) out = !negate;
    }
    return out;
  };
  for (const path of [".env", ".env.production", ".env.example", "server.pem", "test/unit/x.test.ts", "bench/run.ts", ".data/master.key", ".git/HEAD", "node_modules/x/index.js", "secrets/notify_master_key"]) {
    assert.ok(ignored(path), `${path} is kept out of the build context`);
  }
  for (const path of ["src/index.ts", "workers/api.ts", "package.json", "package-lock.json", "tsconfig.json", "tsconfig.build.json", "bin/notify-smtp.js"]) {
    assert.ok(!ignored(path), `${path} is needed by the build`);
  }
});

test("package.json: production runs compiled code; tsx, TypeScript and the dev inbox are dev dependencies", () => {
  const deps = obj(pkg.dependencies, "dependencies");
  const dev = obj(pkg.devDependencies, "devDependencies");
  for (const name of ["tsx", "typescript", "smtp-server", "mailparser", "pino-pretty"]) {
    assert.equal(deps[name], undefined, `${name} is not a runtime dependency`);
    assert.ok(dev[name], `${name} is a dev dependency`);
  }
  assert.match(String(scripts.build), /tsc -p tsconfig\.build\.json/);
  const build = obj(parse(read("tsconfig.build.json")), "tsconfig.build.json");
  assert.deepEqual(list(build.include).sort(), ["src", "workers"]);
  assert.equal(obj(build.compilerOptions, "compilerOptions").outDir, "dist");
  // undici 7 needs 20.18.1; every dependency (dev ones too) installs without an engine warning from there on.
  assert.equal(obj(pkg.engines, "engines").node, ">=20.18.1");
  assert.equal(obj(obj(pkg.exports, "exports")["."], "exports['.']").default, "./dist/src/index.js");
});

/**
 * Exec form with node first, running the compiled role: `npm run` or `sh -c` in between would
 * swallow `docker stop`'s SIGTERM (dash does not forward it), and workers would be killed mid-send.
 */
function assertDirectNode(command: unknown, role: string, where: string): void {
  assert.ok(Array.isArray(command), `${where} uses the exec (array) form`);
  const parts = (command as unknown[]).map(String);
  assert.deepEqual(parts, ["node", `dist/workers/${role}.js`], `${where} runs node dist/workers/${role}.js`);
  assert.ok(existsSync(new URL(`workers/${role}.ts`, root)), `workers/${role}.ts exists (compiled to dist/workers/${role}.js)`);
  assert.ok(Object.values(scripts).some((script) => String(script).includes(`workers/${role}.`)), `a package.json script runs the ${role} role too`);
}
