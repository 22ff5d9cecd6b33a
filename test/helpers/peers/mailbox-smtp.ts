// An SMTP peer that behaves like a provider with per-mailbox limits: it counts concurrent
// sessions (all, and authenticated per user), records when each message was accepted, and
// can answer the replies that matter to sending limits: 432 4.3.2 over a session limit,
// 421 4.7.0 for a while, a fixed AUTH refusal (535 5.7.139), a daily quota after N messages.
import type { AddressInfo } from "node:net";
import { SMTPServer, type SMTPServerAuthentication, type SMTPServerSession } from "smtp-server";
import { testCerts } from "../certs.ts";

export interface MailboxSmtpOptions {
  /** user → password accepted with PLAIN/LOGIN. */
  users: Record<string, string>;
  /** user → the reply every AUTH of that user gets, e.g. { code: 535, message: "5.7.139 …" }. */
  refuseAuth?: Record<string, { code: number; message: string }>;
  /** More authenticated sessions of one user than this: MAIL FROM answers `432 4.3.2`. */
  maxSessionsPerUser?: number;
  /** Until this time (ms epoch), MAIL FROM answers `421 4.7.0 Try again later`. */
  throttleUntil?: number;
  /** After this many accepted messages, MAIL FROM answers `554 5.2.0 …SubmissionQuotaExceededException`. */
  quotaAfter?: number;
  /** Delay before answering DATA, so that sessions overlap. Default 0. */
  dataDelayMs?: number;
}

export interface Accepted {
  to: string[];
  user: string | undefined;
  at: number;
  subject: string;
}

export interface MailboxSmtp {
  port: number;
  accepted: Accepted[];
  /** Every reply other than 250 given to MAIL FROM or AUTH, by its code ("432", "421", "554", "535"). */
  refusals: Record<string, number>;
  readonly authAttempts: number;
  /** Most connections open at once. */
  readonly maxConnections: number;
  /** Most authenticated sessions at once, per user. */
  readonly maxSessions: Record<string, number>;
  options: MailboxSmtpOptions;
  close(): Promise<void>;
}

export async function startMailboxSmtp(options: MailboxSmtpOptions): Promise<MailboxSmtp> {
  const certs = testCerts();
  const accepted: Accepted[] = [];
  const refusals: Record<string, number> = {};
  const sessionsByUser = new Map<string, Set<string>>();
  const maxSessions: Record<string, number> = {};
  let open = 0;
  let maxConnections = 0;
  let authAttempts = 0;
  const refuse = (code: number, message: string): Error => {
    refusals[String(code)] = (refusals[String(code)] ?? 0) + 1;
    return Object.assign(new Error(message), { responseCode: code });
  };
  const userOf = (session: SMTPServerSession) => (typeof session.user === "string" ? session.user : undefined);

  const server = new SMTPServer({
    logger: false,
    key: certs.key,
    cert: certs.cert,
    authMethods: ["PLAIN", "LOGIN"],
    onConnect(_session, callback) {
      open++;
      maxConnections = Math.max(maxConnections, open);
      callback();
    },
    onClose(session) {
      open--;
      const user = userOf(session);
      if (user) sessionsByUser.get(user)?.delete(session.id);
    },
    onAuth(auth: SMTPServerAuthentication, session, callback) {
      authAttempts++;
      const user = auth.username ?? "";
      const refusal = options.refuseAuth?.[user];
      if (refusal) return callback(refuse(refusal.code, refusal.message));
      if (options.users[user] === undefined || options.users[user] !== auth.password) return callback(refuse(535, "5.7.8 Authentication credentials invalid"));
      let set = sessionsByUser.get(user);
      if (!set) sessionsByUser.set(user, (set = new Set()));
      set.add(session.id);
      maxSessions[user] = Math.max(maxSessions[user] ?? 0, set.size);
      callback(null, { user });
    },
    onMailFrom(_address, session, callback) {
      const user = userOf(session);
      if (options.throttleUntil && Date.now() < options.throttleUntil) return callback(refuse(421, "4.7.0 Try again later, closing connection."));
      if (options.maxSessionsPerUser && user && (sessionsByUser.get(user)?.size ?? 0) > options.maxSessionsPerUser) {
        return callback(refuse(432, "4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded"));
      }
      if (options.quotaAfter !== undefined && accepted.length >= options.quotaAfter) {
        return callback(refuse(554, "5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException; Failed to process message due to a permanent exception"));
      }
      callback();
    },
    onData(stream, session, callback) {
      let head = "";
      stream.on("data", (chunk: Buffer) => {
        if (head.length < 4096) head += chunk.toString("utf8");
      });
      stream.on("end", () => {
        const done = () => {
          accepted.push({
            to: session.envelope.rcptTo.map((r) => r.address),
            user: userOf(session),
            at: Date.now(),
            subject: /^Subject: (.*)$/m.exec(head)?.[1] ?? "",
          });
          callback(null);
        };
        if (options.dataDelayMs) setTimeout(done, options.dataDelayMs);
        else done();
      });
    },
  });
  server.on("error", () => {});
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.server.address() as AddressInfo).port,
    accepted,
    refusals,
    get authAttempts() {
      return authAttempts;
    },
    get maxConnections() {
      return maxConnections;
    },
    maxSessions,
    options,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
