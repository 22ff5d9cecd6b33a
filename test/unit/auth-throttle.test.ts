// The pieces of the admin guard on their own, with a hand-driven clock: the per-address window,
// forgetting the oldest address at the size bound (its counts still logged), IPv6 /64
// grouping, strict header parsing, query-string redaction for logs, terminal-safe CLI text.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { AuthThrottle, clientKey } from "../../src/http/auth-throttle.ts";
import { presentedToken } from "../../src/http/auth.ts";
import { createLogger, redactUrl } from "../../src/log.ts";
import { terminalJson, terminalText, withoutControls } from "../../src/cli/terminal-text.ts";

function capture() {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _e, cb) {
      for (const l of chunk.toString().split("\n").filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { log: createLogger({ level: "debug", destination: sink }), lines };
}

const tick = () => new Promise((r) => setImmediate(r));

test("throttle: 10 failures in a window → retry after the window's end; the next window starts afresh", async () => {
  let now = 1_000_000;
  const { log, lines } = capture();
  const throttle = new AuthThrottle({ log, now: () => now, windowMs: 60_000, maxFailures: 10 });
  for (let i = 0; i < 9; i++) throttle.failed("10.0.0.1");
  assert.equal(throttle.retryAfterMs("10.0.0.1"), 0);
  now += 30_000;
  throttle.failed("10.0.0.1");
  assert.equal(throttle.retryAfterMs("10.0.0.1"), 30_000);
  assert.equal(throttle.retryAfterMs("10.0.0.2"), 0, "other addresses are not affected");
  now += 30_000;
  assert.equal(throttle.retryAfterMs("10.0.0.1"), 0, "the window is over");
  throttle.failed("10.0.0.1");
  assert.equal(throttle.retryAfterMs("10.0.0.1"), 0, "a new window counts from 1");
  throttle.close();
  await tick();
  assert.equal(lines.length, 1);
  assert.equal(lines[0]!.refused, 11);
});

test("throttle: the right token clears the count; nothing refused means no log line", async () => {
  const { log, lines } = capture();
  const throttle = new AuthThrottle({ log });
  for (let i = 0; i < 9; i++) throttle.failed("10.0.0.3");
  throttle.succeeded("10.0.0.3");
  throttle.failed("10.0.0.3");
  assert.equal(throttle.retryAfterMs("10.0.0.3"), 0);
  throttle.flush();
  throttle.flush();
  throttle.close();
  await tick();
  assert.equal(lines.length, 1, "one line for the window, none for the empty ones");
});

test("throttle: memory is bounded; forgotten addresses still count in the summary", async () => {
  const { log, lines } = capture();
  const throttle = new AuthThrottle({ log, maxAddresses: 100 });
  for (let i = 0; i < 1000; i++) throttle.failed(`10.1.${i >> 8}.${i & 255}`);
  throttle.close();
  await tick();
  const [line] = lines;
  assert.equal(line!.refused, 1000);
  assert.equal(line!.addresses, 1000);
  assert.equal((line!.top as unknown[]).length, 5);
});

test("client keys: IPv4-mapped IPv6 is IPv4; IPv6 is grouped by /64", () => {
  assert.equal(clientKey("::ffff:203.0.113.9"), "203.0.113.9");
  assert.equal(clientKey("203.0.113.9"), "203.0.113.9");
  assert.equal(clientKey("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
  assert.equal(clientKey("2001:db8:1:2:ffff:ffff:ffff:ffff"), "2001:db8:1:2::/64");
  assert.equal(clientKey("2001:0db8::1"), "2001:db8:0:0::/64");
  assert.equal(clientKey("::1"), "0:0:0:0::/64");
});

test("Authorization parsing: exactly one scheme and one credential", () => {
  assert.equal(presentedToken("Bearer abc", ["bearer"]), "abc");
  assert.equal(presentedToken("Bearer abc garbage", ["bearer"]), null);
  assert.equal(presentedToken("Bearer abc\tgarbage", ["bearer"]), null);
  assert.equal(presentedToken("Basic " + Buffer.from("u:p:q").toString("base64"), ["bearer"]), null, "Basic only where allowed");
  assert.equal(presentedToken("Basic " + Buffer.from("u:p:q").toString("base64"), ["bearer", "basic"]), "p:q");
  assert.equal(presentedToken("Basic " + Buffer.from("u:p").toString("base64") + " extra", ["basic"]), null);
  assert.equal(presentedToken("Basic !!!", ["basic"]), null);
  assert.equal(presentedToken("Basic " + Buffer.from("nocolon").toString("base64"), ["basic"]), null);
});

test("log URLs: credential-bearing query parameters are redacted, the rest is kept", () => {
  assert.equal(redactUrl("/v1/jobs?state=failed&token=abc&x=1"), "/v1/jobs?state=failed&token=[redacted]&x=1");
  assert.equal(redactUrl("/cb?ACCESS_TOKEN=abc#frag"), "/cb?ACCESS_TOKEN=[redacted]#frag");
  assert.equal(redactUrl("/a?mytoken=keep&client_secret=s&password="), "/a?mytoken=keep&client_secret=[redacted]&password=[redacted]");
  assert.equal(redactUrl("/plain"), "/plain");
});

test("terminal text: ANSI/OSC escapes and C1 controls never survive", () => {
  const hostile = "550 no\x1b]0;pwned\x07\x1b[31m red \x9b2J\r\nend";
  const clean = terminalText(hostile);
  assert.doesNotMatch(clean, /[\u0000-\u001f\u007f-\u009f]/);
  assert.match(clean, /^550 no \]0;pwned \[31m red 2J end$/);
  assert.equal(withoutControls("a\x1b[2Jb\n\tc\x9b"), "a?[2Jb\n\tc?");
  assert.equal(terminalJson({ r: "x\x1b]0;t\x07\x9by" }), '{\n  "r": "x\\u001b]0;t\\u0007\\u009by"\n}');
  assert.equal(JSON.parse(terminalJson({ r: "\x7f\x85" })).r, "\x7f\x85", "still the same JSON value");
});
