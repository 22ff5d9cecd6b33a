// Input that breaks the contract is refused before anything reaches the queue or the config
// store: 400 with one `details` entry per bad field (or 413 / 401), and the library producer
// refuses exactly what the HTTP route refuses.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHarness, type Harness } from "../helpers/harness.ts";
import { ValidationError, type FieldError } from "../../src/validation.ts";

let h: Harness;

before(async () => {
  h = await createHarness("validation", { worker: false });
});

after(async () => {
  await h.close();
});

interface ErrorResponse {
  error: { code: string; message: string; details?: FieldError[] };
}

const incident = { incidentId: "42", title: "API down", state: "created", severity: "critical" };
const valid = { type: "incident", projectId: "p1", to: ["a@x.test"], data: incident };

/** Bad email requests and the fields each must be blamed on, in any order. */
const badEmails: { name: string; body: unknown; fields: string[] }[] = [
  { name: "missing fields", body: {}, fields: ["type", "projectId", "to", "data"] },
  { name: "missing data fields", body: { ...valid, data: { incidentId: "42" } }, fields: ["data.title", "data.state", "data.severity"] },
  {
    name: "wrong types",
    body: { type: 1, projectId: 2, to: "a@x.test", idempotencyKey: 5, data: [] },
    fields: ["type", "projectId", "to", "idempotencyKey", "data"],
  },
  { name: "wrong types in data", body: { ...valid, data: { ...incident, monitors: "api", state: "exploded" } }, fields: ["data.monitors", "data.state"] },
  { name: "a body that is not an object", body: ["a@x.test"], fields: ["(body)"] },
  { name: "an extra top-level field", body: { ...valid, priority: "high" }, fields: ["priority"] },
  { name: "an extra field in data", body: { ...valid, data: { ...incident, html: "<b>x</b>" } }, fields: ["data.html"] },
  { name: "a bad address in to", body: { ...valid, to: ["a@x.test", "not-an-address"] }, fields: ["to[1]"] },
  { name: "no recipients", body: { ...valid, to: [] }, fields: ["to"] },
  { name: "an invalid projectId", body: { ...valid, projectId: "p 1" }, fields: ["projectId"] },
  { name: "CR/LF in data.title", body: { ...valid, data: { ...incident, title: "API down\r\nBcc: evil@x.test" } }, fields: ["data.title"] },
  { name: "CR/LF in idempotencyKey", body: { ...valid, idempotencyKey: "incident-42\ncreated" }, fields: ["idempotencyKey"] },
  { name: "CR/LF in a to address", body: { ...valid, to: ["a@x.test", "b@x.test\r\nBcc: evil@x.test"] }, fields: ["to[1]"] },
  { name: "1,001 recipients", body: { ...valid, to: Array.from({ length: 1001 }, (_, i) => `r${i}@x.test`) }, fields: ["to"] },
  { name: "an unknown type", body: { ...valid, type: "sms" }, fields: ["type"] },
];

function postJson(payload: string, headers: Record<string, string> = h.auth) {
  return h.app.inject({ method: "POST", url: "/v1/emails", headers: { ...headers, "content-type": "application/json" }, payload });
}

for (const { name, body, fields } of badEmails) {
  test(`POST /v1/emails with ${name} → 400 naming ${fields.join(", ")}`, async () => {
    const res = await postJson(JSON.stringify(body));
    assert.equal(res.statusCode, 400, res.body);
    const { error } = res.json() as ErrorResponse;
    assert.equal(error.code, "validation_failed");
    assert.ok(error.details, "400 validation errors carry details");
    assert.deepEqual(error.details.map((d) => d.field).sort(), [...fields].sort());
    for (const d of error.details) assert.ok(d.message.length > 0, `a message for ${d.field}`);
    if (name.startsWith("CR/LF")) assert.ok(error.details.every((d) => d.message === "must not contain line breaks"));
  });
}

test("the library producer rejects the same input with a ValidationError carrying the same details", async () => {
  for (const { name, body } of badEmails) {
    const res = await postJson(JSON.stringify(body));
    const httpDetails = (res.json() as ErrorResponse).error.details;
    await assert.rejects(h.services.producer.enqueue(body), (err: unknown) => {
      assert.ok(err instanceof ValidationError, `${name}: ${String(err)}`);
      assert.deepEqual(err.details, httpDetails, name);
      return true;
    });
  }
});

test("malformed JSON → 400 bad_request", async () => {
  const res = await postJson('{"type": "incident", ');
  assert.equal(res.statusCode, 400, res.body);
  const { error } = res.json() as ErrorResponse;
  assert.equal(error.code, "bad_request");
  assert.match(error.message, /JSON/);
});

test("a body over 256 KB → 413 payload_too_large", async () => {
  const payload = JSON.stringify({ ...valid, data: { ...incident, description: "x".repeat(256 * 1024) } });
  assert.ok(Buffer.byteLength(payload) > 256 * 1024);
  const res = await postJson(payload);
  assert.equal(res.statusCode, 413, res.body);
  assert.equal((res.json() as ErrorResponse).error.code, "payload_too_large");
});

test("without or with a wrong bearer token → 401, and nothing is enqueued or stored", async () => {
  const wrongAuth: Record<string, string>[] = [
    {},
    { authorization: "Bearer not-the-token" },
    { authorization: `Bearer ${h.settings.adminToken}x` },
    { authorization: `Basic ${Buffer.from(`admin:wrong`).toString("base64")}` },
    { authorization: h.settings.adminToken },
  ];
  const config = { host: "localhost", port: 25, fromEmail: "a@x.test" };
  for (const [i, headers] of wrongAuth.entries()) {
    // One address per header: more than 10 refusals from one would be answered 429 (admin-auth.test.ts).
    const remoteAddress = `192.0.2.${i + 1}`;
    const requests = [
      h.app.inject({ method: "POST", url: "/v1/emails", remoteAddress, headers, payload: valid }),
      h.app.inject({ method: "POST", url: "/v1/emails", remoteAddress, headers, payload: { bad: true } }),
      h.app.inject({ method: "PUT", url: "/v1/projects/auth-p/smtp-config", remoteAddress, headers, payload: config }),
      h.app.inject({ method: "GET", url: "/v1/projects/x/smtp-config", remoteAddress, headers }),
      h.app.inject({ method: "DELETE", url: "/v1/projects/x/smtp-config", remoteAddress, headers }),
    ];
    for (const res of await Promise.all(requests)) {
      assert.equal(res.statusCode, 401, `${JSON.stringify(headers)}: ${res.body}`);
      assert.equal((res.json() as ErrorResponse).error.code, "unauthorized");
      assert.match(String(res.headers["www-authenticate"]), /^Bearer /);
    }
  }
  const stored = await h.app.inject({ method: "GET", url: "/v1/projects/auth-p/smtp-config", headers: h.auth });
  assert.equal(stored.statusCode, 404, "an unauthorized PUT stored nothing");
});

const smtp = { host: "localhost", port: 587, fromEmail: "status@acme.test" };
const badPem = "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n";
const oauth = { type: "oauth", clientId: "svc@acme.test", tokenUrl: "http://127.0.0.1:9/token", scope: "https://mail.google.com/" };

const badConfigs: { name: string; projectId?: string; body: unknown; fields: string[] }[] = [
  { name: "a port above 65535", body: { ...smtp, port: 70000 }, fields: ["port"] },
  { name: "a port that is a string", body: { ...smtp, port: "587" }, fields: ["port"] },
  { name: "no fromEmail", body: { host: "localhost", port: 587 }, fields: ["fromEmail"] },
  { name: "a bad fromEmail and host", body: { ...smtp, host: "smtp host", fromEmail: "nope" }, fields: ["host", "fromEmail"] },
  { name: "a password auth without password", body: { ...smtp, auth: { type: "password", username: "u" } }, fields: ["auth.password"] },
  { name: "an invalid projectId in the URL", projectId: "bad.id", body: smtp, fields: ["projectId"] },
  { name: "a 65-character projectId", projectId: "p".repeat(65), body: smtp, fields: ["projectId"] },
  { name: "a malformed PEM with grant jwt_bearer", body: { ...smtp, auth: { ...oauth, grant: "jwt_bearer", clientSecret: badPem } }, fields: ["auth.clientSecret"] },
  { name: "a malformed PEM (grant detected)", body: { ...smtp, auth: { ...oauth, clientSecret: badPem } }, fields: ["auth.clientSecret"] },
];

for (const { name, projectId = "p-config", body, fields } of badConfigs) {
  test(`PUT smtp-config with ${name} → 400 naming ${fields.join(", ")}`, async () => {
    const res = await h.app.inject({ method: "PUT", url: `/v1/projects/${projectId}/smtp-config`, headers: h.auth, payload: body as object });
    assert.equal(res.statusCode, 400, res.body);
    const { error } = res.json() as ErrorResponse;
    assert.equal(error.code, "validation_failed");
    assert.deepEqual(error.details?.map((d) => d.field).sort(), [...fields].sort());
  });
}

const unknownAuthType = { ...smtp, auth: { type: "kerberos", username: "u", password: "p" } };

test("PUT smtp-config with an unknown auth type → 400 blaming auth.type", async () => {
  const res = await h.app.inject({ method: "PUT", url: "/v1/projects/p-config/smtp-config", headers: h.auth, payload: unknownAuthType });
  assert.equal(res.statusCode, 400, res.body);
  const { error } = res.json() as ErrorResponse;
  assert.equal(error.code, "validation_failed");
  assert.ok(error.details?.some((d) => d.field === "auth.type" && /password, oauth/.test(d.message)), res.body);
});

test(
  "PUT smtp-config with an unknown auth type → exactly one detail, for auth.type",
  async () => {
    const res = await h.app.inject({ method: "PUT", url: "/v1/projects/p-config/smtp-config", headers: h.auth, payload: unknownAuthType });
    assert.equal(res.statusCode, 400, res.body);
    assert.deepEqual((res.json() as ErrorResponse).error.details?.map((d) => d.field), ["auth.type"]);
  },
);

// Runs last (node:test runs a file's top-level tests in order): everything above was refused.
test("nothing above was enqueued or stored, while a valid request is", async () => {
  const queue = h.services.producer.queue;
  const before = await queue.getJobCounts();
  assert.ok(Object.keys(before).length >= 5, JSON.stringify(before));
  assert.deepEqual(Object.entries(before).filter(([, n]) => n !== 0), [], "no job of any state");
  const config = await h.app.inject({ method: "GET", url: "/v1/projects/p-config/smtp-config", headers: h.auth });
  assert.equal(config.statusCode, 404, "no config was stored");

  const ok = await postJson(JSON.stringify(valid));
  assert.equal(ok.statusCode, 202, ok.body);
  const counts = await queue.getJobCounts();
  assert.equal(Object.values(counts).reduce((a, b) => a + b, 0), 1, JSON.stringify(counts));
});
