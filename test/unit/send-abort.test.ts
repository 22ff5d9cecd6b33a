import { test } from "node:test";
import assert from "node:assert/strict";
import { SendAbort } from "../../src/delivery/send-abort.ts";

test("abort calls each listener once, in order, and only once however often it is called", () => {
  const abort = new SendAbort();
  const calls: string[] = [];
  abort.addEventListener("abort", () => calls.push("a"));
  abort.addEventListener("abort", () => calls.push("b"));
  const reason = new Error("deadline");
  abort.abort(reason);
  abort.abort(new Error("again"));
  assert.deepEqual(calls, ["a", "b"]);
  assert.equal(abort.aborted, true);
  assert.equal(abort.reason, reason);
});

test("a removed listener is not called; other event types are ignored", () => {
  const abort = new SendAbort();
  let called = 0;
  const listener = () => called++;
  abort.addEventListener("abort", listener);
  abort.addEventListener("close", listener);
  abort.removeEventListener("abort", listener);
  abort.abort();
  assert.equal(called, 0);
});

test("signal: a real AbortSignal that follows, whether asked for before or after the abort", () => {
  const before = new SendAbort();
  const signal = before.signal;
  assert.equal(signal.aborted, false);
  before.abort(new Error("x"));
  assert.equal(signal.aborted, true);
  assert.equal((signal.reason as Error).message, "x");
  const after = new SendAbort();
  after.abort(new Error("y"));
  assert.equal(after.signal.aborted, true);
  assert.equal((after.signal.reason as Error).message, "y");
});
