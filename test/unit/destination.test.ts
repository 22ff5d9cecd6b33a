// changedDestination (src/smtp-config/destination.ts): every field the contract names as
// "where a secret would go" is detected when it changes, and nothing else is.
import { test } from "node:test";
import assert from "node:assert/strict";
import { changedDestination, DESTINATION_FIELDS } from "../../src/smtp-config/destination.ts";
import type { SmtpConfig } from "../../src/smtp-config/model.ts";

const stored = {
  host: "smtp.example.com", port: 587, secure: true, fromEmail: "a@example.com",
  auth: { type: "oauth", clientId: "app", clientSecret: "s", tokenUrl: "https://login.example.com/token", scope: "x", user: "u@example.com" },
} as unknown as SmtpConfig;

test("the contract's list, exactly", () => {
  assert.deepEqual([...DESTINATION_FIELDS].sort(), ["auth.clientId", "auth.tokenUrl", "auth.user", "auth.username", "graphUrl", "host", "port", "transport"]);
});

test("each destination field, changed alone, is reported alone", () => {
  for (const path of DESTINATION_FIELDS) {
    const next = structuredClone(stored) as unknown as Record<string, Record<string, unknown>>;
    const [a, b] = path.split(".");
    if (b) next[a!]![b] = "changed";
    else (next as Record<string, unknown>)[a!] = "changed";
    assert.deepEqual(changedDestination(next as unknown as SmtpConfig, stored), [path], path);
  }
});

test("other edits, and absent versus empty, are no change", () => {
  const next = structuredClone(stored) as unknown as { fromName: string; secure: boolean; auth: Record<string, unknown> };
  next.fromName = "New name";
  next.auth.scope = "y";
  assert.deepEqual(changedDestination(next as unknown as SmtpConfig, stored), []);
  const withEmpty = { ...structuredClone(stored), transport: "" } as unknown as SmtpConfig;
  assert.deepEqual(changedDestination(withEmpty, stored), []);
});
