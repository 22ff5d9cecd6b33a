// readTokenAnswer / parseExpiresIn / secretForms (src/oauth/token-answer.ts): what a token
// endpoint says becomes a bounded, control-free DeliveryError with our secrets masked, and
// expires_in is validated (finite, positive, capped at a day; digit strings accepted).
import { test } from "node:test";
import assert from "node:assert/strict";
import { MAX_TOKEN_LIFETIME_S, parseExpiresIn, readTokenAnswer, secretForms, parseRetryAfter } from "../../src/oauth/token-answer.ts";
import { DeliveryError } from "../../src/errors.ts";
import { ESCAPES, hugeErrorBody } from "../helpers/peers/token.ts";

const SECRET = "s3cr3t+/= x&y";
const url = "https://login.example.test/token";
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

function error(status: number, body: unknown): DeliveryError {
  const answer = readTokenAnswer({ status, body: typeof body === "string" ? body : JSON.stringify(body), url, secrets: secretForms(SECRET) });
  assert.ok(answer instanceof DeliveryError, "expected an error");
  return answer;
}

test("expires_in: finite positive numbers and digit strings; capped at a day; anything else refused", () => {
  const cases: [unknown, number | undefined][] = [
    [3600, 3600], ["3600", 3600], [" 60 ", 60], [0.5, 0.5], [undefined, 3600], [null, 3600],
    [1e308, MAX_TOKEN_LIFETIME_S], ["99999999999999", MAX_TOKEN_LIFETIME_S], [86_401, MAX_TOKEN_LIFETIME_S],
    [-1, undefined], [0, undefined], ["abc", undefined], ["1e308", undefined], ["-5", undefined], ["", undefined],
    [Number.NaN, undefined], [true, undefined], [{}, undefined], [[3600], undefined],
  ];
  for (const [value, expected] of cases) assert.equal(parseExpiresIn(value), expected, JSON.stringify(value) ?? String(value));
});

test("a 200 with expires_in 1e308 is a token good for a day, not NaN", () => {
  const ok = readTokenAnswer({ status: 200, body: '{"access_token":"at-1","expires_in":1e308}', url, secrets: [] });
  assert.deepEqual(ok, { accessToken: "at-1", expiresIn: MAX_TOKEN_LIFETIME_S });
});

test("an access_token with control characters or spaces is refused", () => {
  for (const token of ["at\r\nMAIL FROM:<x>", "at 1", "", "at\u0000"]) {
    const answer = readTokenAnswer({ status: 200, body: JSON.stringify({ access_token: token, expires_in: 60 }), url, secrets: [] });
    assert.ok(answer instanceof DeliveryError && answer.code === "token_response_incomplete", JSON.stringify(token));
  }
});

test("an echoed request (raw, form-encoded, percent-encoded, JSON-escaped) is masked in the message, the code and the provider code", () => {
  const form = new URLSearchParams({ client_secret: SECRET }).toString();
  const err = error(400, { error: "invalid_client", error_description: `got ${form} and ${SECRET} and ${encodeURIComponent(SECRET)} and ${JSON.stringify(SECRET)}` });
  const text = JSON.stringify(err.toJSON());
  for (const form of secretForms(SECRET)) assert.ok(!text.includes(form), `leaked ${form}`);
  assert.match(err.message, /\[redacted\]/);
  assert.equal(err.code, "invalid_client");

  const inCode = error(400, { error: SECRET, error_description: "x" });
  assert.equal(inCode.code, "http_400", "a secret (or any non-code) in `error` is never our code");
  assert.ok(!JSON.stringify(inCode.toJSON()).includes(SECRET));
});

test("a 60 KB error full of CR/LF and escapes becomes one line within 1 KB", () => {
  const err = error(400, hugeErrorBody());
  assert.ok(err.message.length <= 1024, `message is ${err.message.length} characters`);
  assert.ok(!CONTROL.test(err.message), "no control characters");
  assert.ok(!err.message.includes(ESCAPES));
  assert.ok(err.code.length <= 64);
  assert.equal(err.providerCode, "AADSTS7000215");
  assert.ok((err.hint ?? "").length > 0, "the AADSTS hint still applies");
});

test("Retry-After: seconds or a date; absurd values are ignored rather than trusted", () => {
  assert.equal(parseRetryAfter("7"), 7000);
  assert.equal(parseRetryAfter("99999999999999999999"), undefined);
  assert.equal(parseRetryAfter("x".repeat(10_000)), undefined);
  const answer = readTokenAnswer({ status: 503, body: "", retryAfter: "2", url, secrets: [] });
  assert.ok(answer instanceof DeliveryError && answer.retryAfterMs === 2000 && !answer.permanent);
});
