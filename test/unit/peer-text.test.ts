import { test } from "node:test";
import assert from "node:assert/strict";
import { cleanPeerText, PEER_TEXT_MAX } from "../../src/net/peer-text.ts";

test("peer text: one line, controls and ANSI/OSC escapes removed", () => {
  assert.equal(cleanPeerText("550 5.1.1\r\n  user\tunknown\x1b[31m red\x1b]0;title\x07\x00"), "550 5.1.1 user unknown [31m red ]0;title");
  assert.equal(cleanPeerText("a\u0085b\u2028c"), "a b c");
});

test("peer text: capped at 1 KB whatever the input size, marked as cut", () => {
  assert.equal(cleanPeerText("550 " + " ".repeat(500_000) + "x".repeat(2_000_000)), "550");
  const out = cleanPeerText("550 5.7.1 " + "y".repeat(2_000_000));
  assert.equal(out.length, PEER_TEXT_MAX);
  assert.ok(out.startsWith("550 5.7.1 yyy") && out.endsWith("…"), out.slice(0, 20));
});

test("peer text: our secrets are masked, also when they straddle the cut", () => {
  const secret = "hunter2-very-secret";
  assert.equal(cleanPeerText(`invalid_client: got client_secret=${secret}&x`, { secrets: [secret] }), "invalid_client: got client_secret=[redacted]&x");
  const straddling = "x".repeat(PEER_TEXT_MAX - 5) + secret;
  const out = cleanPeerText(straddling, { secrets: [secret] });
  assert.ok(!out.includes(secret.slice(0, 5)), out.slice(-20));
});

test("peer text: non-strings", () => {
  assert.equal(cleanPeerText(undefined), "");
  assert.equal(cleanPeerText(550), "550");
});
