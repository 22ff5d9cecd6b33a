// A throwaway CA and a server certificate for 127.0.0.1/localhost, made with the openssl CLI,
// so tests exercise real certificate verification instead of turning it off. Also a
// self-signed certificate and one the CA signed for another name (a name mismatch).
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TestCerts {
  ca: string;
  key: string;
  cert: string;
  /** A self-signed certificate no CA vouches for. */
  selfSigned: { key: string; cert: string };
  /** Signed by the test CA, but for `mail.example.test` only: not localhost, not 127.0.0.1. */
  otherName: { key: string; cert: string };
}

let cached: TestCerts | undefined;

export function testCerts(): TestCerts {
  if (cached) return cached;
  const dir = mkdtempSync(join(tmpdir(), "notify-certs-"));
  const run = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  try {
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=notify-smtp test CA", "-keyout", "ca.key", "-out", "ca.crt");
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", "server.key", "-out", "server.csr");
    writeFileSync(join(dir, "ext.cnf"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2", "-extfile", "ext.cnf", "-out", "server.crt");
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", "self.key", "-out", "self.crt");
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=mail.example.test", "-keyout", "other.key", "-out", "other.csr");
    writeFileSync(join(dir, "other.cnf"), "subjectAltName=DNS:mail.example.test\n");
    run("x509", "-req", "-in", "other.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2", "-extfile", "other.cnf", "-out", "other.crt");
    const read = (f: string) => readFileSync(join(dir, f), "utf8");
    cached = {
      ca: read("ca.crt"), key: read("server.key"), cert: read("server.crt"),
      selfSigned: { key: read("self.key"), cert: read("self.crt") },
      otherName: { key: read("other.key"), cert: read("other.crt") },
    };
    return cached;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
