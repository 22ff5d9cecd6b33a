// Token endpoints that misbehave on purpose (node:http), one behaviour per path, so a test
// points a config's tokenUrl at `${peer.url}/<behaviour>`:
//
//   /echo            400 invalid_client whose error_description is our whole request echoed back
//                    (form body, Authorization header): a secret-capturing endpoint
//   /echo-error      the same echo in `error` (the field that becomes our error code)
//   /endless         200 with a body that never ends (16 KiB chunks as fast as we read)
//   /drip            200, headers at once, then one body byte every `dripMs` forever
//   /silent          accepts the request and never answers
//   /huge-error      400 with a 60,000-character `error` and a long `error_description`, both
//                    full of CR/LF and ANSI/OSC escape sequences (under the 64 KiB cap)
//   /expires/<json>  200 with a real token and `expires_in` = the JSON value in the path
//                    (1e308, -1, "abc", "3600", …)
//   /status/<code>   that status, with `Retry-After: <retryAfter>` when the query names one
//
// Every request is recorded (path, body, headers); tokens issued by /expires can be checked by
// an SMTP server's XOAUTH2 handler with `isIssued`.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { randomBytes } from "node:crypto";

export interface HostileTokenRequest {
  path: string;
  body: string;
  authorization?: string;
}

export interface HostileTokenPeer {
  /** `http://127.0.0.1:<port>`; append a behaviour path. */
  base: string;
  requests: HostileTokenRequest[];
  /** Bytes written by /endless and /drip so far. */
  readonly streamedBytes: number;
  /** TCP connections accepted so far. */
  readonly connections: number;
  /** Connections still open (a bounded client closes them). */
  readonly openConnections: number;
  isIssued(token: string): boolean;
  close(): Promise<void>;
}

export interface HostileTokenOptions {
  /** Pause between dripped bytes, ms. Default 200. */
  dripMs?: number;
}

/** ANSI colour, OSC title and OSC 8 hyperlink sequences, BEL, NUL, DEL, a C1 CSI: what a terminal must never see from a peer. */
export const ESCAPES = "\x1b[31mRED\x1b[0m \x1b]0;owned-title\x07 \x1b]8;;https://evil.test\x1b\\click\x1b]8;;\x1b\\ \x00\x7f\u009b2J";

/** `chars` characters of text with ESCAPES and a CR/LF every ~2 KB (dense enough to matter, sparse enough to fit 64 KiB of JSON). */
export function hugeText(chars: number): string {
  const unit = `${ESCAPES} invalid_client ${"x".repeat(2000)}\r\n`;
  return unit.repeat(Math.ceil(chars / unit.length)).slice(0, chars);
}

/** The /huge-error body: a 60,000-character `error` and a 2,000-character description, under 64 KiB as JSON. */
export function hugeErrorBody(): string {
  const body = JSON.stringify({ error: hugeText(60_000), error_description: `AADSTS7000215: ${hugeText(2_000)}` });
  if (Buffer.byteLength(body) >= 64 * 1024) throw new Error(`huge-error body is ${Buffer.byteLength(body)} bytes: it must fit the client's 64 KiB cap`);
  return body;
}

export async function startHostileTokenPeer(options: HostileTokenOptions = {}): Promise<HostileTokenPeer> {
  const dripMs = options.dripMs ?? 200;
  const requests: HostileTokenRequest[] = [];
  const issued = new Set<string>();
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let streamedBytes = 0;
  let connections = 0;

  const server = createServer((req, res) => {
    void readBody(req).then((body) => {
      const url = new URL(req.url ?? "/", "http://peer");
      requests.push({ path: url.pathname, body, ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) });
      const [, behaviour = "", arg = ""] = url.pathname.split("/");
      switch (behaviour) {
        case "echo":
          return json(res, 400, { error: "invalid_client", error_description: `you sent: ${body} with ${req.headers.authorization ?? "no authorization"}` });
        case "echo-error":
          return json(res, 400, { error: `${body}|${req.headers.authorization ?? ""}`, error_description: "echo in error" });
        case "huge-error":
          res.writeHead(400, { "content-type": "application/json" });
          return res.end(hugeErrorBody());
        case "expires": {
          const token = `at-${randomBytes(12).toString("hex")}`;
          issued.add(token);
          // The raw JSON text of the value, so 1e308 stays a number literal.
          const raw = decodeURIComponent(arg);
          res.writeHead(200, { "content-type": "application/json" });
          return res.end(`{"access_token":"${token}","token_type":"Bearer","expires_in":${raw}}`);
        }
        case "status": {
          const retryAfter = url.searchParams.get("retryAfter");
          return json(res, Number(arg), { error: "temporarily_unavailable" }, retryAfter ? { "retry-after": retryAfter } : {});
        }
        case "endless":
          return endless(res);
        case "drip":
          return drip(res);
        case "silent":
          return; // never answers
        default:
          return json(res, 404, { error: "not_found" });
      }
    });
  });
  server.on("connection", (socket: Socket) => {
    connections++;
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });

  function endless(res: ServerResponse): void {
    res.writeHead(200, { "content-type": "application/json" });
    const chunk = Buffer.alloc(16 * 1024, "a");
    res.write('{"access_token":"');
    const pump = () => {
      let more = true;
      while (!res.destroyed && more) {
        more = res.write(chunk);
        streamedBytes += chunk.length;
      }
      if (!res.destroyed) res.once("drain", pump);
    };
    pump();
  }

  function drip(res: ServerResponse): void {
    res.writeHead(200, { "content-type": "application/json" });
    res.flushHeaders();
    const body = '{"access_token":"';
    let i = 0;
    const timer = setInterval(() => {
      if (res.destroyed) {
        clearInterval(timer);
        timers.delete(timer);
        return;
      }
      res.write(i < body.length ? body[i]! : "x");
      i++;
      streamedBytes++;
    }, dripMs);
    timers.add(timer);
  }

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    base,
    requests,
    get streamedBytes() {
      return streamedBytes;
    },
    get connections() {
      return connections;
    },
    get openConnections() {
      return sockets.size;
    },
    isIssued: (token) => issued.has(token),
    close: () =>
      new Promise<void>((resolve) => {
        for (const timer of timers) clearInterval(timer);
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify(body));
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}
