// A hostile "Graph" endpoint (raw node:http servers) against GraphTransport: the send ends
// within SEND_TIMEOUT_MS whatever the peer does, a megabyte answer is read only up to the cap,
// what the peer says is cleaned and never carries our token, and the event loop keeps going.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { createServer, type RequestListener, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { GraphTransport } from "../../src/delivery/transports/graph.ts";
import type { ResolvedConfig } from "../../src/smtp-config/model.ts";
import type { XOAuth2 } from "../../src/delivery/xoauth2.ts";
import { DeliveryError } from "../../src/errors.ts";
import { assertLively, watchLiveness } from "../helpers/liveness.ts";

const TOKEN = "at-hostile-token-77";
const servers: Server[] = [];
const graph = new GraphTransport({ sendTimeoutMs: 1500, connectionTimeoutMs: 1000 });
const xoauth2 = { token: async () => TOKEN, invalidate: async () => {} } as unknown as XOAuth2;

after(async () => {
  await graph.closeAll();
  for (const s of servers) s.closeAllConnections();
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
});

async function peer(listener: RequestListener): Promise<ResolvedConfig> {
  const server = createServer(listener);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const graphUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    projectId: "hostile", source: "project", version: 1, fingerprint: String(Math.random()),
    config: { transport: "graph", graphUrl, host: "127.0.0.1", port: 443, secure: true, fromEmail: "a@contoso.test", auth: { type: "oauth", clientId: "c", clientSecret: "cs-hostile", tokenUrl: "http://127.0.0.1:1/t", scope: "x" } },
  };
}

async function failure(resolved: ResolvedConfig): Promise<{ err: DeliveryError; ms: number }> {
  const started = Date.now();
  try {
    await graph.send(resolved, Buffer.from("Subject: x\r\n\r\nx"), "<m@x>", xoauth2);
  } catch (err) {
    assert.ok(err instanceof DeliveryError, String(err));
    return { err, ms: Date.now() - started };
  }
  throw new Error("the send succeeded");
}

test("a peer that never answers, or drips its answer, is cut at SEND_TIMEOUT_MS", async () => {
  const silent = await peer(() => {});
  const drip = await peer((_req, res) => {
    res.writeHead(400, { "content-type": "application/json" });
    const timer = setInterval(() => res.write(" "), 100);
    res.on("close", () => clearInterval(timer));
  });
  for (const resolved of [silent, drip]) {
    const { err, ms } = await failure(resolved);
    assert.equal(err.code, "send_timeout");
    assert.equal(err.permanent, false);
    assert.ok(ms < 4000, `ended after ${ms} ms`);
  }
});

test("a megabyte answer echoing our token: read up to the cap, cleaned, token masked, loop lively", async () => {
  const huge = await peer((req, res) => {
    res.writeHead(400, { "content-type": "application/json" });
    const head = JSON.stringify({ error: { code: "Bad\u001b[2J", message: `${req.headers.authorization} \u0000` } }).slice(0, -2);
    res.write(head);
    const chunk = "A".repeat(64 * 1024);
    let sent = 0;
    const pump = () => {
      while (sent < 16 && res.write(chunk)) sent++;
      if (sent < 16) res.once("drain", pump);
      else res.end('"}}');
    };
    pump();
  });
  const liveness = watchLiveness();
  const { err } = await failure(huge);
  assertLively(await liveness.stop(), "a megabyte Graph answer");
  assert.equal(err.code, "400");
  assert.equal(err.stage, "send");
  assert.ok(err.message.length <= 1024);
  assert.ok(!err.message.includes(TOKEN) && !(err.providerCode ?? "").includes(TOKEN));
  assert.ok(!/[\u0000-\u001f]/.test(err.message + (err.providerCode ?? "")));
});

test("connection refused is a transient connect failure", async () => {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise((r) => server.close(r));
  const resolved = await peer(() => {});
  resolved.config.graphUrl = `http://127.0.0.1:${port}`;
  const { err } = await failure(resolved);
  assert.equal(err.stage, "connect");
  assert.equal(err.code, "ECONNREFUSED");
  assert.equal(err.permanent, false);
});
