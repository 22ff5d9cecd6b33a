// A single SMTPConnection used step by step (test-send, verify), safe against any server.
// nodemailer reports a dropped connection by emitting 'error', and an EventEmitter with no
// 'error' listener throws it: without a listener for the connection's whole life, a server
// that hangs up during AUTH, MAIL, RCPT or DATA would crash the process. Here every failure
// (a step's callback, an 'error' event, the connection ending) settles the step that is
// waiting, and later ones are absorbed, including those after quit/close.
import type { Socket } from "node:net";
import SMTPConnection from "nodemailer/lib/smtp-connection";

type Callback<T> = (err?: Error | null, value?: T) => void;

const ignore = () => {};

export class OneOffConnection {
  readonly connection: SMTPConnection;
  /** The first failure seen; every later step fails with it at once. */
  private failure: Error | undefined;
  private waiting: ((err: Error) => void) | undefined;
  private closed = false;

  /** `socket`: a connection already made (the private-address guard dials it); it gets a listener too. */
  constructor(options: SMTPConnection.Options, socket?: Socket) {
    socket?.on("error", ignore);
    this.connection = new SMTPConnection({ ...options, ...(socket ? { connection: socket } : {}) });
    // Never removed: the connection may still emit after quit()/close() (a late socket error).
    this.connection.on("error", (err: Error) => this.fail(err));
    this.connection.on("end", () => this.fail(Object.assign(new Error("Connection closed unexpectedly"), { code: "ECONNECTION" })));
  }

  /** Runs one step; it settles with its callback, the first connection error, or the end. */
  step<T = void>(start: (callback: Callback<T>) => void): Promise<T> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<T>((resolve, reject) => {
      this.waiting = reject;
      start((err, value) => {
        if (this.waiting !== reject) return; // settled already, by a connection error
        this.waiting = undefined;
        if (err) reject(err);
        else resolve(value as T);
      });
    });
  }

  connect(): Promise<void> {
    return this.step((done) => this.connection.connect((err?: Error) => done(err)));
  }

  /** Fails the waiting step (also used by the deadline) and closes the connection. */
  fail(err: Error): void {
    this.failure ??= err;
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.(err);
    if (!this.closed) this.close();
  }

  /** QUIT when the session is healthy, then close; safe to call more than once. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      if (!this.failure) this.connection.quit();
    } finally {
      this.connection.close();
    }
  }
}
