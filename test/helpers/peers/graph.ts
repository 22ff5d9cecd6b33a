// A local Microsoft Graph-compatible endpoint that checks what it receives the way Graph does:
// - `POST /v1.0/users/{mailbox}/sendMail` with `Authorization: Bearer <token>`: the token must
//   be one the test token server issued and did not revoke (else 401 InvalidAuthenticationToken),
//   issued to a client allowed to send as that mailbox (else 403 ErrorAccessDenied), for a
//   mailbox that exists (else 404 ErrorInvalidUser); `Content-Type: text/plain` and a body of
//   strict base64 (else 400 ErrorMimeContentInvalidBase64String), decoded and parsed with
//   mailparser; then 202 with an empty body.
// - `GET /v1.0/users/{mailbox}?$select=id`: 200 `{ id }`, or 403 when `userReadAll` is false.
// It counts requests in flight per mailbox (the highest count seen), and `script` holds
// one-shot answers for sendMail (429 with Retry-After, a one-time 401, …), used in order.
import { createServer as createHttpsServer } from "node:https";
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { simpleParser, type ParsedMail } from "mailparser";
import { testCerts } from "../certs.ts";
import type { TestTokenServer } from "../token-server.ts";

export interface GraphMail {
  mailbox: string;
  token: string;
  /** The decoded MIME bytes. */
  raw: Buffer;
  parsed: ParsedMail;
  at: number;
}

export interface GraphRequestRecord {
  /** When it arrived (ms). */
  at: number;
  method: string;
  path: string;
  mailbox: string;
  status: number;
  contentType?: string;
  authorization?: string;
}

export interface ScriptedGraphReply {
  status: number;
  /** Graph's error code and message, sent as `{ "error": { code, message } }`. */
  code?: string;
  message?: string;
  headers?: Record<string, string>;
}

export interface GraphPeerOptions {
  tokens: TestTokenServer;
  /** Lowercased mailbox → the client ids allowed to send as it. A mailbox not listed does not exist. */
  mailboxes: Record<string, string[]>;
  /** Serve https with the test certificate (default true); false: plain http. */
  tls?: boolean;
  /** Hold every sendMail this long before answering, ms (lets concurrency show). Default 0. */
  delayMs?: number;
  /** GET /users answers 200 (true, default) or 403 (the app lacks User.Read.All). */
  userReadAll?: boolean;
  /** More sendMail requests than this in flight for one mailbox: 429 ApplicationThrottled, as Graph's MailboxConcurrency. Default 4. */
  concurrencyLimit?: number;
}

export interface GraphPeer {
  url: string;
  options: GraphPeerOptions;
  mails: GraphMail[];
  requests: GraphRequestRecord[];
  script: ScriptedGraphReply[];
  /** The most sendMail requests in flight at once for `mailbox`. */
  maxConcurrent(mailbox: string): number;
  /** TCP (TLS) connections accepted so far: shows whether clients keep connections alive. */
  connections(): number;
  close(): Promise<void>;
}

export const ACCESS_DENIED = { code: "ErrorAccessDenied", message: "Access is denied. Check credentials and try again." };

export async function startGraphPeer(options: GraphPeerOptions): Promise<GraphPeer> {
  const mails: GraphMail[] = [];
  const requests: GraphRequestRecord[] = [];
  const script: ScriptedGraphReply[] = [];
  const inFlight = new Map<string, number>();
  const maxSeen = new Map<string, number>();

  const handler = (req: IncomingMessage, res: ServerResponse) => {
    void readBody(req).then(async (body) => {
      const url = new URL(req.url ?? "/", "http://graph.local");
      const match = /^\/v1\.0\/users\/([^/]+)(\/sendMail)?$/.exec(url.pathname);
      const mailbox = match ? decodeURIComponent(match[1]!).toLowerCase() : "";
      const record: GraphRequestRecord = { at: Date.now(), method: req.method ?? "", path: url.pathname, mailbox, status: 0, contentType: req.headers["content-type"], authorization: req.headers.authorization };
      requests.push(record);
      const reply = (status: number, json?: unknown, headers: Record<string, string> = {}) => {
        record.status = status;
        res.writeHead(status, { ...(json === undefined ? {} : { "content-type": "application/json" }), ...headers });
        res.end(json === undefined ? undefined : JSON.stringify(json));
      };
      const error = (status: number, code: string, message: string, headers?: Record<string, string>) => reply(status, { error: { code, message } }, headers);
      if (!match) return error(404, "UnknownError", "no such route");
      const sendMail = Boolean(match[2]);
      if (sendMail !== (req.method === "POST") || (!sendMail && req.method !== "GET")) return error(405, "Request_BadRequest", "method not allowed");

      const counted = sendMail;
      if (counted) {
        const now = (inFlight.get(mailbox) ?? 0) + 1;
        inFlight.set(mailbox, now);
        maxSeen.set(mailbox, Math.max(now, maxSeen.get(mailbox) ?? 0));
      }
      try {
        if (sendMail && (inFlight.get(mailbox) ?? 0) > (options.concurrencyLimit ?? 4)) {
          return error(429, "ApplicationThrottled", "Application is over its MailboxConcurrency limit.", { "retry-after": "1" });
        }
        if (sendMail && options.delayMs) await new Promise((r) => setTimeout(r, options.delayMs));
        const scripted = sendMail ? script.shift() : undefined;
        if (scripted) return error(scripted.status, scripted.code ?? "Scripted", scripted.message ?? "scripted answer", scripted.headers);

        const token = /^Bearer (\S+)$/.exec(req.headers.authorization ?? "")?.[1];
        const issued = token ? options.tokens.issued.find((t) => t.token === token) : undefined;
        if (!token || !issued || options.tokens.revoked.has(token)) {
          return error(401, "InvalidAuthenticationToken", "Access token validation failure. Invalid audience.");
        }
        const allowed = options.mailboxes[mailbox];
        if (!allowed) return error(404, "ErrorInvalidUser", `The requested user '${mailbox}' is invalid.`);
        if (!sendMail) {
          return options.userReadAll === false ? error(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.") : reply(200, { id: `id-${mailbox}` });
        }
        if (!allowed.includes(issued.subject)) return error(403, ACCESS_DENIED.code, ACCESS_DENIED.message);
        if (!/^text\/plain\b/i.test(req.headers["content-type"] ?? "")) return error(415, "ErrorInvalidRequest", "Content-Type must be text/plain for MIME content");
        const text = body.toString("latin1").replace(/\r?\n/g, "");
        if (text.length === 0 || text.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(text)) {
          return error(400, "ErrorMimeContentInvalidBase64String", "Invalid base64 string for MIME content.");
        }
        const raw = Buffer.from(text, "base64");
        const parsed = await simpleParser(raw);
        if (!parsed.from || !parsed.to) return error(400, "ErrorMimeContentInvalid", "The MIME content is invalid.");
        mails.push({ mailbox, token, raw, parsed, at: Date.now() });
        return reply(202);
      } finally {
        if (counted) inFlight.set(mailbox, (inFlight.get(mailbox) ?? 1) - 1);
      }
    }).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500);
      res.end(String(err));
    });
  };

  const tls = options.tls ?? true;
  const certs = testCerts();
  const server = tls ? createHttpsServer({ key: certs.key, cert: certs.cert }, handler) : createHttpServer(handler);
  let accepted = 0;
  server.on("connection", () => accepted++);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;

  return {
    url: `${tls ? "https" : "http"}://127.0.0.1:${port}`,
    options,
    mails,
    requests,
    script,
    maxConcurrent: (mailbox) => maxSeen.get(mailbox.toLowerCase()) ?? 0,
    connections: () => accepted,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}
