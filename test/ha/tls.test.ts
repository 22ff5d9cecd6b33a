// TLS, as production uses it: certificates verified against Node's CAs plus
// NODE_EXTRA_CA_CERTS (read by Node at start, so each check is a process of its own), the
// name checked, `?servername=` for a certificate that names a host when we dial an address;
// a rediss+cluster:// Cluster whose nodes speak only TLS to each other and to us. Passwords
// never in what the process prints.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { testCerts } from "../helpers/certs.ts";
import { PROJECT_ROOT } from "../helpers/child-worker.ts";
import { freePort } from "../helpers/smtp-server.ts";
import { startRedisProcess, until, type RedisProcess } from "../helpers/redis-process.ts";

const run = promisify(execFile);
const PASSWORD = "tls-s3cret";
let dir: string;
const files: Record<string, string> = {};
const started: RedisProcess[] = [];

before(() => {
  dir = mkdtempSync(join(tmpdir(), "notify-tls-"));
  const certs = testCerts();
  for (const [name, text] of Object.entries({ ca: certs.ca, key: certs.key, cert: certs.cert, otherKey: certs.otherName.key, otherCert: certs.otherName.cert })) {
    files[name] = join(dir, `${name}.pem`);
    writeFileSync(files[name]!, text);
  }
});

after(async () => {
  await Promise.all(started.map((p) => p.remove()));
  rmSync(dir, { recursive: true, force: true });
});

/** Plain port for the helper's own checks; TLS on another. */
async function tlsServer(cert: string, key: string, extra: string[] = []): Promise<{ node: RedisProcess; tlsPort: number }> {
  const tlsPort = await freePort();
  const node = await startRedisProcess({
    name: "tls",
    cliAuth: ["-a", PASSWORD],
    config: [`tls-port ${tlsPort}`, `tls-cert-file ${cert}`, `tls-key-file ${key}`, `tls-ca-cert-file ${files.ca}`, "tls-auth-clients no", `requirepass ${PASSWORD}`, "save \"\"", "appendonly no", ...extra],
  });
  started.push(node);
  return { node, tlsPort };
}

async function probe(url: string, withCa: boolean): Promise<{ ok: boolean; reply?: string; error?: string; connectionError?: string; printed: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, PROBE_URL: url };
  delete env.NODE_TEST_CONTEXT;
  if (withCa) env.NODE_EXTRA_CA_CERTS = files.ca;
  else delete env.NODE_EXTRA_CA_CERTS;
  const { stdout, stderr } = await run(process.execPath, ["--import", "tsx", "test/helpers/redis-probe-child.ts"], { cwd: PROJECT_ROOT, env, timeout: 20_000 });
  return { ...(JSON.parse(stdout.trim().split("\n").pop()!) as { ok: boolean }), printed: stdout + stderr };
}

test("rediss://: verified with NODE_EXTRA_CA_CERTS, by name or address; refused without the CA", async () => {
  const { tlsPort } = await tlsServer(files.cert!, files.key!);
  for (const host of ["localhost", "127.0.0.1"]) {
    const ok = await probe(`rediss://:${PASSWORD}@${host}:${tlsPort}`, true);
    assert.deepEqual([ok.ok, ok.reply], [true, "PONG"], `${host}: ${ok.printed}`);
  }
  const untrusted = await probe(`rediss://:${PASSWORD}@localhost:${tlsPort}`, false);
  assert.equal(untrusted.ok, false);
  assert.match(untrusted.connectionError ?? "", /self.signed|unable to verify|SELF_SIGNED|UNABLE_TO_VERIFY/i, untrusted.printed);
  assert.ok(!untrusted.printed.includes(PASSWORD), "the password was printed");
});

test("rediss://…?servername=: the certificate's name, when we dial an address it does not name", async () => {
  // Signed by the test CA for mail.example.test only.
  const { tlsPort } = await tlsServer(files.otherCert!, files.otherKey!);
  const mismatch = await probe(`rediss://:${PASSWORD}@127.0.0.1:${tlsPort}`, true);
  assert.equal(mismatch.ok, false);
  assert.match(mismatch.connectionError ?? "", /ALTNAME|does not match|not in the cert/i, mismatch.printed);
  const named = await probe(`rediss://:${PASSWORD}@127.0.0.1:${tlsPort}?servername=mail.example.test`, true);
  assert.deepEqual([named.ok, named.reply], [true, "PONG"], named.printed);
});

test("rediss+cluster://: a TLS-only Cluster (bus and replication too) of 3 masters", async () => {
  const nodes: { node: RedisProcess; tlsPort: number }[] = [];
  for (let i = 0; i < 3; i++) {
    nodes.push(await tlsServer(files.cert!, files.key!, [
      "cluster-enabled yes", "cluster-config-file nodes.conf", "cluster-node-timeout 1000", `cluster-port ${await freePort()}`,
      "tls-cluster yes", "tls-replication yes", `masterauth ${PASSWORD}`,
    ]));
  }
  await nodes[0]!.node.cli("--cluster", "create", ...nodes.map((n) => `127.0.0.1:${n.node.port}`), "--cluster-replicas", "0", "--cluster-yes");
  for (const { node } of nodes) {
    await until(async () => ((await node.cli("CLUSTER", "INFO")).includes("cluster_state:ok") ? true : undefined), 20_000, "cluster_state:ok");
  }
  const url = `rediss+cluster://:${PASSWORD}@${nodes.map((n) => `127.0.0.1:${n.tlsPort}`).join(",")}`;
  const ok = await probe(url, true);
  assert.deepEqual([ok.ok, ok.reply], [true, "PONG"], ok.printed);
  const untrusted = await probe(url, false);
  assert.equal(untrusted.ok, false, untrusted.printed);
  assert.ok(!untrusted.printed.includes(PASSWORD), "the password was printed");
});
