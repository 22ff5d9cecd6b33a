// The Graph transport's rules without a worker: config validation (private targets, https),
// the mailbox and its default limit, the Graph answer table, the private-target guard on
// every request, the JWT roles check of verify, and the Microsoft 365 hints that point to Graph.
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { parseSmtpConfig } from "../../src/smtp-config/validate.ts";
import { ValidationError } from "../../src/validation.ts";
import type { ResolvedConfig, SmtpConfig } from "../../src/smtp-config/model.ts";
import { mailboxOf } from "../../src/mailbox/mailbox.ts";
import { effectiveLimits } from "../../src/mailbox/limits.ts";
import { classifyGraphAnswer } from "../../src/delivery/classify-graph.ts";
import { GraphTransport } from "../../src/delivery/transports/graph.ts";
import { jwtRoles } from "../../src/delivery/test-send-graph.ts";
import { classifySmtpError } from "../../src/delivery/classify-smtp.ts";
import type { XOAuth2 } from "../../src/delivery/xoauth2.ts";
import { parseMasterKey } from "../../src/crypto/master-key.ts";

const loadMasterKey = () => parseMasterKey(randomBytes(32).toString("base64"), "test");

const body = (extra: Record<string, unknown> = {}) => ({
  transport: "graph", fromEmail: "Status@Contoso.test",
  auth: { type: "oauth", clientId: "app", clientSecret: "s3cret", tokenUrl: "https://login.microsoftonline.com/t/oauth2/v2.0/token" },
  ...extra,
});

async function fieldsOf(input: unknown, allowPrivateTargets: boolean): Promise<string[]> {
  try {
    await parseSmtpConfig(input, { allowPrivateTargets });
  } catch (err) {
    assert.ok(err instanceof ValidationError);
    return err.details.map((d) => d.field);
  }
  return [];
}

test("graphUrl: https only and no private target unless allowed; derived host and port", async () => {
  assert.deepEqual(await fieldsOf(body({ graphUrl: "http://graph.microsoft.com" }), false), ["graphUrl"]);
  assert.deepEqual(await fieldsOf(body({ graphUrl: "https://127.0.0.1:8443" }), false), ["graphUrl"]);
  assert.deepEqual(await fieldsOf(body({ graphUrl: "https://graph.microsoft.com/?x=1" }), true), ["graphUrl"]);
  assert.deepEqual(await fieldsOf(body({ graphUrl: "https://user:pw@graph.microsoft.com" }), false), ["graphUrl"]);
  const ok = await parseSmtpConfig(body({ graphUrl: "http://127.0.0.1:8080/" }), { allowPrivateTargets: true });
  assert.equal(ok.graphUrl, "http://127.0.0.1:8080");
  assert.equal(ok.host, "127.0.0.1");
  assert.equal(ok.port, 8080);
});

test("a Graph mailbox is (graph, graphUrl host, 443, fromEmail) with 4 concurrent requests by default", async () => {
  const config = await parseSmtpConfig(body({ graphUrl: "https://graph.microsoft.com" }), { allowPrivateTargets: true });
  const key = loadMasterKey();
  const mailbox = mailboxOf(config, key);
  assert.equal(mailbox.transport, "graph");
  assert.equal(mailbox.host, "graph.microsoft.com");
  assert.equal(mailbox.port, 443);
  assert.equal(mailbox.identity, "status@contoso.test");
  // An SMTP config on the same host and address is another mailbox.
  const smtp: SmtpConfig = { host: "graph.microsoft.com", port: 443, secure: true, fromEmail: "status@contoso.test" };
  assert.notEqual(mailboxOf(smtp, key).id, mailbox.id);
  assert.deepEqual(effectiveLimits(config), { limits: { maxConnections: 4 }, source: "provider-default" });
  assert.deepEqual(effectiveLimits({ ...config, limits: { maxConnections: 2 } }).limits, { maxConnections: 2 });
});

test("Graph answers: throttling with Retry-After, permanent 403/404/400 with hints, peer text cleaned", () => {
  const throttled = classifyGraphAnswer({ status: 429, body: '{"error":{"code":"ApplicationThrottled","message":"MailboxConcurrency"}}', retryAfter: "7" }, []);
  assert.equal(throttled.kind, "throttle");
  assert.equal(throttled.permanent, false);
  assert.equal(throttled.retryAfterMs, 7000);
  assert.equal(throttled.stage, "send");
  for (const status of [503, 504]) assert.equal(classifyGraphAnswer({ status, body: "" }, []).kind, "throttle");
  const denied = classifyGraphAnswer({ status: 403, body: '{"error":{"code":"ErrorAccessDenied","message":"Access is denied. Check credentials and try again."}}' }, []);
  assert.equal(denied.permanent, true);
  assert.equal(denied.providerCode, "ErrorAccessDenied");
  assert.match(denied.hint ?? "", /Mail\.Send.*admin consent.*New-ApplicationAccessPolicy.*Application Mail\.Send/);
  const rest = classifyGraphAnswer({ status: 404, body: '{"error":{"code":"MailboxNotEnabledForRESTAPI","message":"REST API is not yet supported for this mailbox."}}' }, []);
  assert.equal(rest.permanent, true);
  assert.match(rest.hint ?? "", /licensed Exchange Online mailbox/);
  const invalidUser = classifyGraphAnswer({ status: 404, body: '{"error":{"code":"ErrorInvalidUser","message":"The requested user is invalid."}}' }, []);
  assert.match(invalidUser.hint ?? "", /exists and is licensed/);
  const mime = classifyGraphAnswer({ status: 400, body: '{"error":{"code":"ErrorMimeContentInvalidBase64String","message":"Invalid base64 string for MIME content."}}' }, []);
  assert.equal(mime.permanent, true);
  assert.match(mime.hint ?? "", /base64/);
  assert.equal(classifyGraphAnswer({ status: 500, body: "oops" }, []).permanent, false);
  // A hostile endpoint echoing our token, with controls and a megabyte of text.
  const echo = classifyGraphAnswer({ status: 400, body: JSON.stringify({ error: { code: "X\u0000Y", message: `token at-SECRET-1 \u001b[31m${"A".repeat(100_000)}` } }) }, ["at-SECRET-1"]);
  assert.ok(!echo.message.includes("at-SECRET-1"));
  assert.ok(echo.message.length <= 1024);
  assert.ok(!/[\u0000-\u001f]/.test(echo.message + (echo.providerCode ?? "")));
});

test("the private-target guard applies to every Graph request: https only, no loopback (literal or by name)", async () => {
  const graph = new GraphTransport({ blockPrivateTargets: true, sendTimeoutMs: 5000, connectionTimeoutMs: 2000 });
  const xoauth2 = { token: async () => "tok", invalidate: async () => {} } as unknown as XOAuth2;
  const resolved = (graphUrl: string): ResolvedConfig => ({
    projectId: "p", source: "project", version: 1, fingerprint: randomBytes(4).toString("hex"),
    config: { transport: "graph", graphUrl, host: new URL(graphUrl).hostname, port: 443, secure: true, fromEmail: "a@contoso.test", auth: { type: "oauth", clientId: "c", clientSecret: "s", tokenUrl: "https://login.microsoftonline.com/t/oauth2/v2.0/token", scope: "x" } },
  });
  try {
    for (const [url, code] of [["http://graph.example.com", "insecure_graph_url"], ["https://127.0.0.1:9", "EPRIVATE"], ["https://[::ffff:7f00:1]:9", "EPRIVATE"], ["https://localhost:9", "EPRIVATE"]] as const) {
      await assert.rejects(graph.send(resolved(url), Buffer.from("x"), "<m@x>", xoauth2), (err: Error & { code?: string; stage?: string; permanent?: boolean }) => {
        assert.equal(err.code, code, `${url}: ${err.message}`);
        assert.equal(err.stage, "connect");
        assert.equal(err.permanent, true);
        return true;
      });
    }
  } finally {
    await graph.closeAll();
  }
});

test("verify's roles check reads a JWT's roles claim and ignores opaque tokens", () => {
  const jwt = (payload: unknown) => `e30.${Buffer.from(JSON.stringify(payload)).toString("base64url")}.sig`;
  assert.deepEqual(jwtRoles(jwt({ roles: ["Mail.Send", "User.Read.All"] })), ["Mail.Send", "User.Read.All"]);
  assert.deepEqual(jwtRoles(jwt({ roles: [] })), []);
  assert.equal(jwtRoles(jwt({ scp: "x" })), undefined);
  assert.equal(jwtRoles("at-opaque"), undefined);
  assert.equal(jwtRoles("a.!!!.c"), undefined);
});

test("Microsoft 365 SMTP with 535 5.7.139 or 550 5.7.30 (password or OAuth) names the Graph transport", () => {
  for (const oauth of [false, true]) {
    for (const [code, text] of [[535, "535 5.7.139 Authentication unsuccessful, basic authentication is disabled."], [550, "550 5.7.30 Basic authentication is not supported for Client Submission."]] as const) {
      const err = classifySmtpError(Object.assign(new Error("refused"), { code: "EAUTH", responseCode: code, response: text, command: oauth ? "AUTH XOAUTH2" : "AUTH PLAIN" }), { oauth });
      assert.match(err.hint ?? "", /Graph transport \(transport "graph"/, `${code} oauth=${oauth}`);
      assert.equal(err.kind, "breaker");
    }
  }
});
