// A local SMTP sink for development: `npm start` points the default SMTP server here so a
// newcomer can read rendered mail at /dev/inbox without any real mail account.
import { randomUUID } from "node:crypto";
import type { AddressInfo } from "node:net";
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from "smtp-server";
import { simpleParser, type ParsedMail } from "mailparser";

export interface InboxMessage {
  id: string;
  receivedAt: string;
  from: string;
  to: string[];
  subject: string;
  html: string | null;
  text: string | null;
  headers: Record<string, string>;
  /** The message exactly as received (the DATA payload), for the raw source view. */
  raw: Buffer;
}

export interface DevInbox {
  host: string;
  port: number;
  /** smtp://host:port */
  url: string;
  /** Newest first. */
  list(): InboxMessage[];
  get(id: string): InboxMessage | undefined;
  /** Forgets every message. */
  clear(): void;
  close(): Promise<void>;
}

export interface DevInboxOptions {
  /** Default 127.0.0.1: the inbox takes any login and must not be reachable from elsewhere. */
  host?: string;
  /** Default 0 (any free port). */
  port?: number;
  /** When `port` is taken, listen on any free port instead of failing. Default false. */
  anyPortIfTaken?: boolean;
  /** Messages kept, oldest dropped first. Default 200. */
  maxMessages?: number;
  /** Bytes of raw source kept across all messages, oldest dropped first. Default 50 MB. */
  maxTotalBytes?: number;
}

const MAX_MESSAGE_BYTES = 10 * 1024 * 1024;

// Drains the whole stream (SMTP needs it consumed) but stops buffering past the limit.
function readAll(stream: SMTPServerDataStream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    stream.on("data", (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes <= MAX_MESSAGE_BYTES) chunks.push(chunk);
    });
    stream.once("end", () => resolve(Buffer.concat(chunks)));
    stream.once("error", reject);
  });
}

/** Raw header lines, unfolded; repeated headers (Received) are joined so none is lost. */
function headerRecord(mail: ParsedMail): Record<string, string> {
  const out: Record<string, string> = {};
  for (const { key, line } of mail.headerLines) {
    const colon = line.indexOf(":");
    const value = (colon === -1 ? line : line.slice(colon + 1)).replace(/\r?\n[ \t]+/g, " ").trim();
    out[key] = key in out ? `${out[key]}, ${value}` : value;
  }
  return out;
}

function toMessage(mail: ParsedMail, session: SMTPServerSession, raw: Buffer): InboxMessage {
  const envelopeFrom = session.envelope.mailFrom ? session.envelope.mailFrom.address : "";
  return {
    id: randomUUID().replaceAll("-", "").slice(0, 12),
    receivedAt: new Date().toISOString(),
    from: mail.from?.text || envelopeFrom,
    // The envelope is what the server was actually asked to deliver to (it includes Bcc).
    to: session.envelope.rcptTo.map((r) => r.address),
    subject: mail.subject ?? "",
    html: typeof mail.html === "string" ? mail.html : null,
    text: mail.text ?? null,
    headers: headerRecord(mail),
    raw,
  };
}

export async function startDevInbox(options: DevInboxOptions = {}): Promise<DevInbox> {
  const host = options.host ?? "127.0.0.1";
  const maxMessages = Math.max(1, options.maxMessages ?? 200);
  const maxTotalBytes = Math.max(1, options.maxTotalBytes ?? 50 * 1024 * 1024);
  // Oldest first internally; list() reverses.
  const messages: InboxMessage[] = [];
  let totalBytes = 0;
  const keep = (message: InboxMessage) => {
    messages.push(message);
    totalBytes += message.raw.length;
    // The newest message always stays, however large.
    while (messages.length > 1 && (messages.length > maxMessages || totalBytes > maxTotalBytes)) {
      totalBytes -= messages.shift()!.raw.length;
    }
  };

  const server = new SMTPServer({
    logger: false,
    banner: "notify-smtp dev inbox",
    // Plain and local only: no TLS to configure, and any credentials are accepted so a
    // DEFAULT_SMTP_URL with a user:pass still delivers here.
    disabledCommands: ["STARTTLS"],
    authOptional: true,
    allowInsecureAuth: true,
    size: MAX_MESSAGE_BYTES,
    rejectOversized: true,
    closeTimeout: 1000,
    onAuth(auth, _session, callback) {
      callback(null, { user: auth.username ?? "dev" });
    },
    onData(stream, session, callback) {
      readAll(stream)
        .then(async (raw) => {
          if (stream.sizeExceeded) return callback(null);
          const mail = await simpleParser(raw);
          keep(toMessage(mail, session, raw));
          callback(null);
        })
        .catch((err: unknown) => callback(err instanceof Error ? err : new Error(String(err))));
    },
  });

  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      server.once("error", onError);
      server.listen(port, host, () => {
        server.off("error", onError);
        resolve();
      });
    });
  try {
    await listen(options.port ?? 0);
  } catch (err) {
    if (!options.anyPortIfTaken || (err as NodeJS.ErrnoException).code !== "EADDRINUSE") throw err;
    await listen(0);
  }
  const port = (server.server.address() as AddressInfo).port;

  return {
    host,
    port,
    url: `smtp://${host.includes(":") ? `[${host}]` : host}:${port}`,
    list: () => messages.slice().reverse(),
    get: (id) => messages.find((m) => m.id === id),
    clear() {
      messages.length = 0;
      totalBytes = 0;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
