// A pool opens no connection its process holds no mailbox slot for. nodemailer's pool hands a
// queued message to a connection the moment it creates one; created without a slot, that
// connection waits for admission with the message in it (10 s, then ETIMEDOUT and a retry).
// Found by the benchmark (2 workers × 6 connections on a mailbox of 10: single emails 10 s
// late). `connectionsAllowed` caps the pool at the slots held; raising it opens more.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { TransportPool } from "../../src/delivery/transport-pool.ts";
import { composeMessage } from "../../src/delivery/compose.ts";
import { createLogger } from "../../src/log.ts";
import type { ResolvedConfig } from "../../src/smtp-config/model.ts";
import { startMailboxSmtp, type MailboxSmtp } from "../helpers/peers/mailbox-smtp.ts";
import { testCerts } from "../helpers/certs.ts";

const servers: MailboxSmtp[] = [];
const pools: TransportPool[] = [];
after(async () => {
  for (const pool of pools) pool.closeAll();
  await Promise.all(servers.map((s) => s.close()));
});

function resolved(port: number): ResolvedConfig {
  return {
    projectId: "cap", source: "project", version: 1, fingerprint: String(port),
    config: { host: "localhost", port, secure: true, fromEmail: "status@acme.test", auth: { type: "password", username: "u", password: "pw" } } as ResolvedConfig["config"],
  };
}

function mail(i: number) {
  const m = composeMessage({ from: { address: "status@acme.test" }, to: `u${i}@example.com`, subject: "Down", text: "x", html: "<p>x</p>", headers: {} });
  return { raw: m.raw, envelope: m.envelope, messageId: m.messageId };
}

test("pool of 3 with 1 connection allowed: 1 session, every message sent; allowed 3: it opens more", { timeout: 30_000 }, async () => {
  const smtp = await startMailboxSmtp({ users: { u: "pw" }, dataDelayMs: 20 });
  servers.push(smtp);
  let allowed = 1;
  const pool = new TransportPool({ log: createLogger({ level: "silent" }), ca: testCerts().ca, maxConnections: 3, connectionsAllowed: () => allowed });
  pools.push(pool);
  const config = resolved(smtp.port);
  await Promise.all(Array.from({ length: 12 }, (_, i) => pool.send(config, mail(i))));
  assert.equal(smtp.accepted.length, 12);
  assert.equal(smtp.maxConnections, 1, "without the cap nodemailer opens all 3 at once");
  allowed = 3;
  await Promise.all(Array.from({ length: 12 }, (_, i) => pool.send(config, mail(100 + i))));
  assert.equal(smtp.accepted.length, 24);
  assert.ok(smtp.maxConnections > 1, `opened ${smtp.maxConnections} once allowed 3`);
});
