// A throwaway CA and a certificate for 127.0.0.1/localhost, made with the openssl CLI (the
// recipe of test/helpers/certs.ts, copied so the bench needs nothing from test/ at run time).
// The sink's STARTTLS and the token endpoint's HTTPS use it; the workers trust the CA through
// NODE_EXTRA_CA_CERTS, exactly as a deployment with a private CA would.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface BenchCerts {
  /** Holds ca.crt (for NODE_EXTRA_CA_CERTS); removed by `remove()`. */
  dir: string;
  caFile: string;
  ca: string;
  key: string;
  cert: string;
  remove(): void;
}

export function makeCerts(): BenchCerts {
  const dir = mkdtempSync(join(tmpdir(), "notify-bench-certs-"));
  const run = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  try {
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=notify-smtp bench CA", "-keyout", "ca.key", "-out", "ca.crt");
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", "server.key", "-out", "server.csr");
    writeFileSync(join(dir, "ext.cnf"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2", "-extfile", "ext.cnf", "-out", "server.crt");
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`could not make the bench certificates with openssl: ${(err as Error).message}`);
  }
  const read = (f: string) => readFileSync(join(dir, f), "utf8");
  // Only the CA certificate stays on disk (NODE_EXTRA_CA_CERTS needs a file); keys live in memory.
  const certs = { dir, caFile: join(dir, "ca.crt"), ca: read("ca.crt"), key: read("server.key"), cert: read("server.crt") };
  for (const f of ["ca.key", "server.key", "server.csr", "ext.cnf", "ca.srl"]) rmSync(join(dir, f), { force: true });
  return { ...certs, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
