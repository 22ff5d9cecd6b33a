// TokenEndpoint.post against a tiny local HTTP server (no mocks): how each kind of answer, and
// each way of not answering, is classified (permanent or transient, code, hint, Retry-After).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { TokenEndpoint, parseRetryAfter } from "../../src/oauth/token-endpoint.ts";
import { tokenHint } from "../../src/oauth/hints.ts";
import { DeliveryError } from "../../src/errors.ts";
import { freePort } from "../helpers/smtp-server.ts";

const UNAUTHORIZED = { error: "unauthorized_client", error_description: "Client is unauthorized to retrieve access tokens using this method." };

/** path → answer. `/hang` never answers. */
const routes: Record<string, (res: ServerResponse) => void> = {
  "/ok": (res) => json(res, 200, { access_token: "tok-1", token_type: "Bearer", expires_in: 1800 }),
  "/html": (res) => { res.writeHead(200, { "content-type": "text/html" }); res.end("<html><body>Sign in</body></html>"); },
  "/incomplete": (res) => json(res, 200, { token_type: "Bearer", expires_in: 3600 }),
  "/expired": (res) => json(res, 401, { error: "invalid_client", error_description: "AADSTS7000222: The provided client secret keys for app 'x' are expired.\r\nTrace ID: 1" }),
  "/oauth2.googleapis.com/token": (res) => json(res, 400, UNAUTHORIZED),
  "/unauthorized": (res) => json(res, 400, UNAUTHORIZED),
  "/busy": (res) => json(res, 429, { error: "too_many_requests" }, { "retry-after": "7" }),
  "/down": (res) => json(res, 503, { error: "temporarily_unavailable" }),
  "/huge": (res) => json(res, 200, { access_token: "x".repeat(10_000), expires_in: 3600 }),
  "/hang": () => {},
};

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify(body));
}

let server: Server;
let base: string;
const received: { path: string; body: string; headers: IncomingMessage["headers"] }[] = [];
const endpoints: TokenEndpoint[] = [];

function endpoint(options: ConstructorParameters<typeof TokenEndpoint>[0] = {}): TokenEndpoint {
  const e = new TokenEndpoint(options);
  endpoints.push(e);
  return e;
}

before(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const path = req.url ?? "";
      received.push({ path, body: Buffer.concat(chunks).toString("utf8"), headers: req.headers });
      const route = routes[path];
      if (route) route(res);
      else json(res, 404, { error: "not_found" });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  for (const e of endpoints) await e.close().catch(() => undefined);
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const form = () => new URLSearchParams({ grant_type: "client_credentials", scope: "s1" });

/** The DeliveryError (stage "token") that `p` rejects with. */
async function rejection(p: Promise<unknown>): Promise<DeliveryError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof DeliveryError, `expected a DeliveryError, got ${String(err)}`);
    assert.equal(err.stage, "token");
    return err;
  }
  return assert.fail("expected the token request to fail");
}

test("200 with access_token → the token and its lifetime; the form and headers were sent", async () => {
  const answer = await endpoint().post(`${base}/ok`, form(), { headers: { authorization: "Basic eDp5" } });
  assert.deepEqual(answer, { accessToken: "tok-1", expiresIn: 1800 });
  const req = received.findLast((r) => r.path === "/ok")!;
  assert.equal(req.body, "grant_type=client_credentials&scope=s1");
  assert.equal(req.headers["content-type"], "application/x-www-form-urlencoded");
  assert.equal(req.headers.authorization, "Basic eDp5");
});

test("200 that is not JSON → permanent token_response_not_json", async () => {
  const err = await rejection(endpoint().post(`${base}/html`, form()));
  assert.equal(err.permanent, true);
  assert.equal(err.code, "token_response_not_json");
});

test("200 JSON without access_token → permanent token_response_incomplete", async () => {
  const err = await rejection(endpoint().post(`${base}/incomplete`, form()));
  assert.equal(err.permanent, true);
  assert.equal(err.code, "token_response_incomplete");
});

test("401 invalid_client with AADSTS7000222 → permanent, the hint says the secret expired", async () => {
  const err = await rejection(endpoint().post(`${base}/expired`, form()));
  assert.equal(err.permanent, true);
  assert.equal(err.code, "invalid_client");
  assert.equal(err.providerCode, "AADSTS7000222");
  assert.match(err.hint ?? "", /expired/);
  assert.doesNotMatch(err.message, /Trace ID/, "only the first line of the description is kept");
});

test("400 unauthorized_client: permanent, with the client-credentials hint off Google (a googleapis path on another host does not count)", async () => {
  const lookalike = await rejection(endpoint().post(`${base}/oauth2.googleapis.com/token`, form()));
  assert.equal(lookalike.permanent, true);
  assert.equal(lookalike.code, "unauthorized_client");
  assert.doesNotMatch(lookalike.hint ?? "", /domain-wide delegation/);
  const other = await rejection(endpoint().post(`${base}/unauthorized`, form()));
  assert.equal(other.permanent, true);
  assert.match(other.hint ?? "", /client credentials grant/);
});

test("tokenHint: Google's bare error codes on Google's token URL", () => {
  const url = "https://oauth2.googleapis.com/token";
  assert.match(tokenHint("unauthorized_client", "", url) ?? "", /domain-wide delegation.*https:\/\/mail\.google\.com\//);
  assert.match(tokenHint("invalid_grant", "Invalid email or User ID", url) ?? "", /impersonated mailbox/);
  assert.match(tokenHint("invalid_client", "The OAuth client was not found.", url) ?? "", /service account key/);
  assert.match(tokenHint("invalid_scope", "", "https://accounts.google.com/o/oauth2/token") ?? "", /https:\/\/mail\.google\.com\//);
  const ms = "https://login.microsoftonline.com/contoso.test/oauth2/v2.0/token";
  assert.doesNotMatch(tokenHint("unauthorized_client", "", ms) ?? "", /delegation/);
  assert.match(tokenHint("invalid_scope", "", ms) ?? "", /outlook\.office365\.com/);
  assert.equal(tokenHint("something_else", "", url), undefined);
});

test("429 with Retry-After: 7 → transient, retryAfterMs 7000", async () => {
  const err = await rejection(endpoint().post(`${base}/busy`, form()));
  assert.equal(err.permanent, false);
  assert.equal(err.code, "http_429");
  assert.equal(err.retryAfterMs, 7000);
});

test("503 → transient, no Retry-After", async () => {
  const err = await rejection(endpoint().post(`${base}/down`, form()));
  assert.equal(err.permanent, false);
  assert.equal(err.code, "http_503");
  assert.equal(err.retryAfterMs, undefined);
});

test("an answer larger than maxResponseBytes → permanent token_response_too_large", async () => {
  const err = await rejection(endpoint({ maxResponseBytes: 1024 }).post(`${base}/huge`, form()));
  assert.equal(err.permanent, true);
  assert.equal(err.code, "token_response_too_large");
  // The same answer fits the default cap: the limit, not the content, refused it.
  assert.equal((await endpoint().post(`${base}/huge`, form())).accessToken.length, 10_000);
});

test("a closed port → transient ECONNREFUSED", async () => {
  const err = await rejection(endpoint().post(`http://127.0.0.1:${await freePort()}/token`, form()));
  assert.equal(err.permanent, false);
  assert.equal(err.code, "ECONNREFUSED");
});

test("a server that never answers, timeoutMs 300 → transient token_timeout, in about that time", async () => {
  const started = Date.now();
  const err = await rejection(endpoint({ timeoutMs: 300 }).post(`${base}/hang`, form()));
  const elapsed = Date.now() - started;
  assert.equal(err.permanent, false);
  assert.equal(err.code, "token_timeout");
  assert.ok(elapsed >= 250 && elapsed < 5000, `took ${elapsed} ms`);
});

test("blockPrivateTargets against localhost → permanent EPRIVATE, and nothing is sent", async () => {
  const before = received.length;
  // https: the name is refused on what it resolves to, before any TLS.
  const url = `${base.replace("http://127.0.0.1", "https://localhost")}/ok`;
  const err = await rejection(endpoint({ blockPrivateTargets: true }).post(url, form()));
  assert.equal(err.permanent, true);
  assert.equal(err.code, "EPRIVATE");
  assert.match(err.hint ?? "", /NOTIFY_ALLOW_PRIVATE_TARGETS/);
  assert.equal(received.length, before);
  // Without the block the same host works: it was the address check that refused.
  assert.equal((await endpoint().post(`${base.replace("127.0.0.1", "localhost")}/ok`, form())).accessToken, "tok-1");
});

test("parseRetryAfter: seconds and HTTP dates", () => {
  assert.equal(parseRetryAfter("7"), 7000);
  assert.equal(parseRetryAfter(" 120 "), 120_000);
  assert.equal(parseRetryAfter("0"), 0);
  const now = Date.parse("Wed, 21 Oct 2015 07:28:00 GMT");
  assert.equal(parseRetryAfter("Wed, 21 Oct 2015 07:28:30 GMT", now), 30_000);
  assert.equal(parseRetryAfter("Wed, 21 Oct 2015 07:27:00 GMT", now), 0, "a date in the past means now");
  assert.equal(parseRetryAfter("soon"), undefined);
  assert.equal(parseRetryAfter(undefined), undefined);
  assert.equal(parseRetryAfter(""), undefined);
});
