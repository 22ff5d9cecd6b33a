// Hostile SMTP servers on raw `node:net`: each stage of a session (greeting, EHLO, STARTTLS,
// AUTH, MAIL, RCPT, DATA, the message's end, QUIT) answers normally unless the script says
// otherwise: hang up, reset, stay silent, drip a reply byte by byte, send a huge reply, or
// stream continuation lines forever. What the client sent is recorded per session, so a test
// can see what reached the peer (credentials included: test memory only).
import { createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { TLSSocket } from "node:tls";
import { testCerts } from "../certs.ts";

export type SmtpStage = "greeting" | "EHLO" | "STARTTLS" | "AUTH" | "MAIL" | "RCPT" | "DATA" | "MESSAGE" | "QUIT";

/** What the peer does at a stage. Replies are raw text; a missing final CRLF is added. */
export type PeerAction =
  /** Answer as a normal server would. */
  | { do: "normal" }
  | { do: "reply"; text: string }
  /** Close our side (FIN) and drop the socket. */
  | { do: "hangUp" }
  /** Drop the connection with a TCP reset (the client sees ECONNRESET). */
  | { do: "reset" }
  /** Say nothing, keep the connection open. */
  | { do: "silence" }
  /** Send `text` `chunk` bytes (default 1) at a time, every `everyMs`. */
  | { do: "drip"; text: string; everyMs: number; chunk?: number }
  /** Send `line` (e.g. "250-X") every `everyMs`, forever: a reply that never completes. */
  | { do: "stream"; line: string; everyMs: number };

export interface HostileSmtpOptions {
  /** What to do at each stage; a function sees the client's command line (or the message). */
  script?: Partial<Record<SmtpStage, PeerAction | ((input: string) => PeerAction)>>;
  /** Offer STARTTLS with the test certificate (default false: configs use allowInsecureAuth). */
  starttls?: boolean;
  /** Mechanisms in the EHLO reply. Default ["PLAIN"]. */
  authMethods?: string[];
}

export interface PeerSession {
  /** Every command line the client sent, in order (message bodies excluded). */
  commands: string[];
  /** The raw message bodies received (DATA … "."). */
  messages: string[];
  /** The stage the session was at when the client or the peer ended it. */
  stage: SmtpStage;
  /** When the connection was accepted and when it closed (Date.now()). */
  openedAt: number;
  closedAt?: number;
}

export interface HostileSmtpServer {
  host: "127.0.0.1";
  port: number;
  sessions: PeerSession[];
  /** Connections open right now. */
  readonly open: number;
  /** Waits until `n` sessions have closed. */
  waitForClosed(n: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

const NORMAL: PeerAction = { do: "normal" };

export async function startHostileSmtp(options: HostileSmtpOptions = {}): Promise<HostileSmtpServer> {
  const sessions: PeerSession[] = [];
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const methods = options.authMethods ?? ["PLAIN"];

  const server: Server = createServer((raw) => {
    sockets.add(raw);
    const session: PeerSession = { commands: [], messages: [], stage: "greeting", openedAt: Date.now() };
    sessions.push(session);
    let socket: Socket = raw;
    let buffer = "";
    let inData = false;
    let dataLines: string[] = [];
    let ended = false;
    const stop = () => {
      ended = true;
      session.closedAt ??= Date.now();
      for (const t of ownTimers) {
        clearInterval(t);
        timers.delete(t);
      }
    };
    const ownTimers = new Set<NodeJS.Timeout>();
    const every = (ms: number, fn: () => void) => {
      const t = setInterval(() => (ended || socket.destroyed ? stop() : fn()), ms);
      ownTimers.add(t);
      timers.add(t);
    };
    raw.on("error", () => {});
    raw.on("close", () => {
      sockets.delete(raw);
      stop();
    });

    const write = (text: string) => {
      if (!ended && !socket.destroyed) socket.write(text.endsWith("\r\n") ? text : `${text}\r\n`);
    };

    /** Runs the scripted action for `stage`, or `normal()` when the script has none. */
    const act = (stage: SmtpStage, input: string, normal: () => void) => {
      session.stage = stage;
      const entry = options.script?.[stage];
      const action = typeof entry === "function" ? entry(input) : entry ?? NORMAL;
      switch (action.do) {
        case "normal": return normal();
        case "reply": return write(action.text);
        case "hangUp":
          stop();
          socket.end();
          socket.destroy();
          return;
        case "reset":
          stop();
          raw.resetAndDestroy();
          return;
        case "silence": return;
        case "drip": {
          const text = action.text.endsWith("\r\n") ? action.text : `${action.text}\r\n`;
          const size = action.chunk ?? 1;
          let at = 0;
          every(action.everyMs, () => {
            if (at >= text.length) return;
            socket.write(text.slice(at, at + size));
            at += size;
          });
          return;
        }
        case "stream":
          every(action.everyMs, () => socket.write(`${action.line}\r\n`));
          return;
      }
    };

    const ehlo = () => {
      const lines = ["hostile.test at your service", ...(options.starttls && !(socket instanceof TLSSocket) ? ["STARTTLS"] : []), `AUTH ${methods.join(" ")}`, "8BITMIME"];
      write(lines.map((l, i) => `250${i === lines.length - 1 ? " " : "-"}${l}`).join("\r\n"));
    };

    const onLine = (line: string) => {
      if (inData) {
        if (line === ".") {
          inData = false;
          const message = dataLines.join("\r\n");
          dataLines = [];
          session.messages.push(message);
          act("MESSAGE", message, () => write("250 2.0.0 queued as HOSTILE"));
        } else {
          dataLines.push(line.startsWith("..") ? line.slice(1) : line);
        }
        return;
      }
      session.commands.push(line);
      const verb = line.split(" ", 1)[0]!.toUpperCase();
      if (verb === "EHLO" || verb === "HELO" || verb === "LHLO") return act("EHLO", line, ehlo);
      if (verb === "STARTTLS") {
        return act("STARTTLS", line, () => {
          write("220 2.0.0 go ahead");
          raw.removeAllListeners("data");
          const certs = testCerts();
          const secure = new TLSSocket(raw, { isServer: true, key: certs.key, cert: certs.cert });
          secure.on("error", () => {});
          secure.on("data", onData);
          socket = secure;
        });
      }
      if (verb === "AUTH") return act("AUTH", line, () => write("235 2.7.0 Authentication successful"));
      if (verb === "MAIL") return act("MAIL", line, () => write("250 2.1.0 Sender ok"));
      if (verb === "RCPT") return act("RCPT", line, () => write("250 2.1.5 Recipient ok"));
      if (verb === "DATA") {
        return act("DATA", line, () => {
          inData = true;
          write("354 End data with <CR><LF>.<CR><LF>");
        });
      }
      if (verb === "QUIT") {
        return act("QUIT", line, () => {
          write("221 2.0.0 Bye");
          socket.end();
        });
      }
      if (verb === "RSET" || verb === "NOOP") return write("250 2.0.0 OK");
      // An AUTH continuation (e.g. the base64 lines of AUTH LOGIN) counts as AUTH.
      if (session.stage === "AUTH") return act("AUTH", line, () => write("235 2.7.0 Authentication successful"));
      write("502 5.5.2 Command not recognized");
    };

    const onData = (chunk: Buffer) => {
      if (ended) return;
      buffer += chunk.toString("utf8");
      let at: number;
      while (!ended && (at = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, at).replace(/\r$/, "");
        buffer = buffer.slice(at + 1);
        onLine(line);
      }
    };
    raw.on("data", onData);
    act("greeting", "", () => write("220 hostile.test ESMTP ready"));
  });

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;

  return {
    host: "127.0.0.1",
    port,
    sessions,
    get open() {
      return sockets.size;
    },
    async waitForClosed(n, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (sessions.filter((s) => s.closedAt !== undefined).length < n) {
        if (Date.now() > deadline) throw new Error(`expected ${n} closed sessions, got ${sessions.filter((s) => s.closedAt !== undefined).length} of ${sessions.length}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async close() {
      for (const t of timers) clearInterval(t);
      timers.clear();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The password an `AUTH PLAIN <base64>` line carries (authzid \0 authcid \0 password). */
export function plainPassword(line: string): string {
  const b64 = line.split(" ")[2] ?? "";
  return Buffer.from(b64, "base64").toString("utf8").split("\u0000")[2] ?? "";
}

/**
 * AUTH LOGIN (offer it with `authMethods: ["LOGIN"]`) that asks for the user and the password,
 * then answers 535 with both base64 lines and what they decode to.
 */
export function echoLogin(): (line: string) => PeerAction {
  const said: string[] = [];
  return (line) => {
    if (/^AUTH LOGIN/i.test(line)) {
      said.length = 0;
      return { do: "reply", text: "334 VXNlcm5hbWU6" };
    }
    said.push(line);
    if (said.length === 1) return { do: "reply", text: "334 UGFzc3dvcmQ6" };
    const decoded = said.map((b) => Buffer.from(b, "base64").toString("utf8"));
    return { do: "reply", text: `535-5.7.8 you sent ${said.join(" and ")}\r\n535 5.7.8 that is ${decoded.join(" / ")}` };
  };
}

/** A 535 that echoes the client's AUTH line back, base64 and decoded: a server fishing for leaks. */
export function echoAuth(line: string): PeerAction {
  const decoded = Buffer.from(line.split(" ")[2] ?? "", "base64").toString("utf8");
  return { do: "reply", text: `535-5.7.8 you sent: ${line}\r\n535-5.7.8 which says: ${decoded.replace(/\u0000/g, " ")}\r\n535 5.7.8 password was ${plainPassword(line)}` };
}
