// The abort of one pooled send, in the shape nodemailer's pool reads from `mail.data.signal`:
// `aborted`, `reason`, and an "abort" listener added and removed once per queued message. A
// real AbortSignal is an EventTarget; creating one and listening to it cost about 17 µs of
// CPU per email, 4 % of a worker's (the benchmark's `--cpu-prof`), for a deadline that almost
// never fires. This is two fields and a short array.

type Listener = () => void;

export class SendAbort {
  aborted = false;
  reason: unknown = undefined;
  private listeners: Listener[] = [];
  private controller: AbortController | undefined;

  addEventListener(type: string, listener: Listener): void {
    if (type === "abort" && !this.aborted) this.listeners.push(listener);
  }

  removeEventListener(type: string, listener: Listener): void {
    if (type !== "abort") return;
    const i = this.listeners.indexOf(listener);
    if (i !== -1) this.listeners.splice(i, 1);
  }

  /** Aborts once: each listener is called once, in the order added; later calls do nothing. */
  abort(reason: unknown = new Error("This operation was aborted")): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    const listeners = this.listeners;
    this.listeners = [];
    for (const listener of listeners) listener();
    this.controller?.abort(reason);
  }

  /** A real AbortSignal that follows this one, for an API that needs one (made on first use). */
  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.aborted) this.controller.abort(this.reason);
    }
    return this.controller.signal;
  }
}
