// A real SMTP peer for tests (nodemailer's smtp-server): checks credentials (PLAIN/LOGIN and
// XOAUTH2), offers STARTTLS with a test certificate, parses what it receives, and can be told
// to answer the next commands with scripted replies (451, 550, …).
import { createServer, type AddressInfo } from "node:net";
import { SMTPServer, type SMTPServerOptions, type SMTPServerAuthentication } from "smtp-server";
import { simpleParser, type ParsedMail } from "mailparser";
import { testCerts } from "./certs.ts";

export interface ReceivedMail {
  envelopeFrom: string;
  to: string[];
  user: string | undefined;
  /** The session was encrypted (implicit TLS or STARTTLS) when the message came in. */
  secure: boolean;
  mail: ParsedMail;
}

export interface ScriptedReply {
  /** Which command answers with this reply. */
  at: "MAIL" | "RCPT" | "DATA";
  code: number;
  message: string;
}

export interface TestSmtpServerOptions {
  /** Accepted PLAIN/LOGIN credentials; omit for no password auth. */
  password?: { user: string; pass: string };
  /** Validates an XOAUTH2 login: return true to accept. */
  xoauth2?: (user: string, token: string) => boolean;
  /**
   * How a refused XOAUTH2 login is answered. "challenge" (default, like Gmail): a 334 with a
   * base64 JSON error, then 535 after the client's empty line (nodemailer renews the token
   * within the same AUTH). "535" (like Microsoft 365): `535 5.7.3 Authentication unsuccessful`
   * at once. Assignable later through `xoauth2Failure`.
   */
  xoauth2Failure?: "challenge" | "535";
  /** STARTTLS with a certificate signed by the test CA (default true). */
  tls?: boolean | { key: string; cert: string };
  /** Implicit TLS from the first byte (like port 465). */
  implicitTls?: boolean;
  /** Mechanisms offered; default PLAIN, LOGIN (+ XOAUTH2 when `xoauth2` is set). */
  authMethods?: string[];
  /** Called after a message has been parsed and accepted (before the 250 goes out). */
  onAccepted?: (mail: ReceivedMail) => void;
  /** Listen on this port of 127.0.0.1 (default 0: any free port). */
  port?: number;
  /**
   * Wait this long after the end of DATA before answering it (a slow server), so a test can act
   * while a message is in flight. Default 0; can be changed later through `dataDelayMs`.
   */
  dataDelayMs?: number;
}

export interface AuthAttempt {
  method: string;
  user: string | undefined;
  ok: boolean;
  /** The access token offered (XOAUTH2 only). */
  token?: string;
  /** The SMTP session (one per connection): tells a retry on the same connection from a new one. */
  sessionId?: string;
}

export interface TestSmtpServer {
  port: number;
  /** TCP connections accepted so far. */
  readonly connections: number;
  received: ReceivedMail[];
  authAttempts: AuthAttempt[];
  /** See the option of the same name; assignable. */
  xoauth2Failure: "challenge" | "535";
  /** Replies used, in order, instead of the normal answer. */
  script: ScriptedReply[];
  /** The current delay before answering DATA (see the option); assignable. */
  dataDelayMs: number;
  /**
   * Messages whose DATA has been fully read, counted before the delay and the reply (a message
   * is pushed to `received` only just before its 250): lets a test see a message in flight.
   */
  readonly dataStarted: number;
  waitForCount(n: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startTestSmtpServer(options: TestSmtpServerOptions = {}): Promise<TestSmtpServer> {
  const received: ReceivedMail[] = [];
  const authAttempts: TestSmtpServer["authAttempts"] = [];
  const script: ScriptedReply[] = [];
  let dataDelayMs = options.dataDelayMs ?? 0;
  let xoauth2Failure = options.xoauth2Failure ?? "challenge";
  let dataStarted = 0;
  const certs = testCerts();
  const tls = options.tls === undefined || options.tls === true ? { key: certs.key, cert: certs.cert } : options.tls || undefined;

  const scripted = (at: ScriptedReply["at"]): Error | null => {
    const i = script.findIndex((r) => r.at === at);
    if (i < 0) return null;
    const [reply] = script.splice(i, 1);
    return Object.assign(new Error(reply!.message), { responseCode: reply!.code });
  };

  const authMethods = options.authMethods ?? [...(options.password ? ["PLAIN", "LOGIN"] : []), ...(options.xoauth2 ? ["XOAUTH2"] : [])];
  const serverOptions: SMTPServerOptions = {
    logger: false,
    secure: options.implicitTls ?? false,
    ...(tls ? { key: tls.key, cert: tls.cert } : { disabledCommands: ["STARTTLS"] }),
    authMethods,
    authOptional: authMethods.length === 0,
    // Let the client try AUTH before STARTTLS so tests can prove it never does.
    allowInsecureAuth: !tls,
    onAuth(auth: SMTPServerAuthentication, session, callback) {
      let ok = false;
      if (auth.method === "XOAUTH2") ok = Boolean(options.xoauth2?.(auth.username ?? "", auth.accessToken ?? ""));
      else ok = Boolean(options.password && auth.username === options.password.user && auth.password === options.password.pass);
      authAttempts.push({ method: auth.method, user: auth.username, ok, ...(auth.method === "XOAUTH2" ? { token: auth.accessToken ?? "" } : {}), sessionId: session.id });
      if (ok) return callback(null, { user: auth.username });
      if (auth.method === "XOAUTH2" && xoauth2Failure === "535") {
        return callback(Object.assign(new Error("5.7.3 Authentication unsuccessful"), { responseCode: 535 }));
      }
      if (auth.method === "XOAUTH2") return callback(null, { data: { status: "401", schemes: "bearer", scope: "https://mail.google.com/" } });
      return callback(Object.assign(new Error("5.7.8 Authentication credentials invalid"), { responseCode: 535 }));
    },
    onMailFrom(_address, _session, callback) {
      callback(scripted("MAIL"));
    },
    onRcptTo(_address, _session, callback) {
      callback(scripted("RCPT"));
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("end", () => {
        dataStarted++;
        const failure = scripted("DATA");
        if (failure) return callback(failure);
        simpleParser(Buffer.concat(chunks))
          .then(async (mail) => {
            if (dataDelayMs > 0) await new Promise((r) => setTimeout(r, dataDelayMs));
            const entry: ReceivedMail = {
              envelopeFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : "",
              to: session.envelope.rcptTo.map((r) => r.address),
              user: typeof session.user === "string" ? session.user : undefined,
              secure: session.secure,
              mail,
            };
            received.push(entry);
            options.onAccepted?.(entry);
            callback(null);
          })
          .catch((err: Error) => callback(err));
      });
    },
  };
  const server = new SMTPServer(serverOptions);
  server.on("error", () => {});
  await new Promise<void>((resolve, reject) => {
    server.server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => {
      server.server.off("error", reject);
      resolve();
    });
  });
  const port = (server.server.address() as AddressInfo).port;
  let connections = 0;
  server.server.on("connection", () => connections++);

  return {
    port,
    received,
    authAttempts,
    script,
    get dataDelayMs() {
      return dataDelayMs;
    },
    set dataDelayMs(ms: number) {
      dataDelayMs = ms;
    },
    get xoauth2Failure() {
      return xoauth2Failure;
    },
    set xoauth2Failure(mode: "challenge" | "535") {
      xoauth2Failure = mode;
    },
    get dataStarted() {
      return dataStarted;
    },
    get connections() {
      return connections;
    },
    async waitForCount(n, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (received.length < n) {
        if (Date.now() > deadline) throw new Error(`expected ${n} emails, got ${received.length}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A loopback port that nothing listens on (bound once, then released). */
export async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}
