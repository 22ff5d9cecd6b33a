// A fan-out's jobs render once: equal (type, data) give the very same result as rendering
// afresh, distinct ones their own; the cache stays bounded and keeps the recently used; and a
// composed message built from a cached render is byte-for-byte what a fresh render gives
// (bar the per-message Message-ID, Date and boundary).
import { test } from "node:test";
import assert from "node:assert/strict";
import type { EmailJobData } from "../../src/jobs/contracts.ts";
import { renderEmail } from "../../src/templates/index.ts";
import { RenderCache } from "../../src/templates/render-cache.ts";
import { composeMessage } from "../../src/delivery/compose.ts";

const job = (title: string, to = "a@example.com"): EmailJobData => ({
  type: "incident", projectId: "p", to, enqueuedAt: 1,
  data: { incidentId: "1", title, state: "created", severity: "major", description: "line one\n.line two", url: "https://status.example.com/i/1" },
});

test("equal type and data: one render, the same as rendering afresh; other data: its own", () => {
  const cache = new RenderCache();
  const first = cache.render(job("Down", "a@example.com"));
  const again = cache.render(job("Down", "b@example.com"));
  assert.equal(again, first, "a second recipient of the same email gets the cached render");
  assert.deepEqual(first, renderEmail(job("Down")));
  const other = cache.render(job("Up"));
  assert.notEqual(other, first);
  assert.deepEqual(other, renderEmail(job("Up")));
  // An alert with the same data fields is another email.
  const asAlert = cache.render({ type: "alert", projectId: "p", to: "a@example.com", enqueuedAt: 1, data: { alertId: "1", title: "Down", state: "created", severity: "major" } });
  assert.match(asAlert.subject, /Down/);
  assert.notEqual(asAlert, first);
  assert.ok(Object.isFrozen(first) && Object.isFrozen(first.headers), "a shared render cannot be changed by one job");
});

test("bounded: the least recently used goes first", () => {
  const cache = new RenderCache({ size: 2 });
  const a = cache.render(job("A"));
  const b = cache.render(job("B"));
  assert.equal(cache.render(job("A")), a); // A is now the most recent
  cache.render(job("C")); // evicts B
  assert.equal(cache.render(job("A")), a);
  assert.notEqual(cache.render(job("B")), b, "B was evicted and rendered again");
});

test("a message composed from a cached render equals one from a fresh render, less its per-message lines", () => {
  const cache = new RenderCache();
  const strip = (raw: Buffer) => {
    const text = raw.toString("utf8");
    const boundary = /boundary="([^"]+)"/.exec(text)![1]!;
    return text.split(boundary).join("BOUNDARY").replace(/^(Date|Message-ID): .*$/gm, "$1: x");
  };
  const input = (email: ReturnType<typeof renderEmail>) => ({ from: { name: "Acme", address: "s@acme.test" }, to: "a@example.com", subject: email.subject, text: email.text, html: email.html, headers: email.headers });
  cache.render(job("Down"));
  const cached = composeMessage(input(cache.render(job("Down"))));
  const fresh = composeMessage(input(renderEmail(job("Down"))));
  assert.equal(strip(cached.raw), strip(fresh.raw));
  assert.notEqual(cached.messageId, fresh.messageId);
  // Each message still gets its own boundary.
  assert.notEqual(/boundary="([^"]+)"/.exec(cached.raw.toString())![1], /boundary="([^"]+)"/.exec(fresh.raw.toString())![1]);
});
