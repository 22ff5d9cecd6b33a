// A local OAuth token endpoint that checks what it is sent: client authentication
// (client_secret_post or client_secret_basic) or a JWT-bearer assertion verified with jose
// against the service account's public key. It issues opaque tokens and can be scripted to
// fail (503 with Retry-After, invalid_client, …).
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { randomBytes, type KeyObject } from "node:crypto";
import { jwtVerify, type JWTPayload } from "jose";

export interface IssuedToken {
  token: string;
  /** For client credentials: the client id; for JWT bearer: the assertion's `sub`. */
  subject: string;
  scope: string;
  issuedAt: number;
}

export interface TokenRequestRecord {
  at: number;
  grantType: string;
  /** How the client authenticated: "post", "basic" or "assertion". */
  clientAuth: "post" | "basic" | "assertion" | "none";
  /** Verified JWT claims and header, for JWT-bearer requests. */
  assertion?: { payload: JWTPayload; kid?: string };
  status: number;
  /** The form body as received (every field, secrets included: test memory only). */
  form: Record<string, string>;
  /** The Authorization header as received, if any. */
  authorization?: string;
}

export interface ScriptedTokenReply {
  status: number;
  body: Record<string, unknown> | string;
  headers?: Record<string, string>;
}

export interface TokenServerOptions {
  /** Accepted client credentials. */
  client?: { id: string; secret: string; auth?: "post" | "basic" };
  /** Accepted service account: its email (iss) and public key. */
  serviceAccount?: { email: string; publicKey: KeyObject };
  /** Seconds; default 3600. */
  expiresIn?: number;
  /** Delay before answering, ms. */
  delayMs?: number;
}

export interface TestTokenServer {
  url: string;
  requests: TokenRequestRecord[];
  issued: IssuedToken[];
  /** Answers used, in order, before normal behaviour resumes. */
  script: ScriptedTokenReply[];
  options: TokenServerOptions;
  revoked: Set<string>;
  /** For the SMTP server's XOAUTH2 check: issued to `user`, not revoked. */
  isValid(user: string, token: string): boolean;
  close(): Promise<void>;
}

export async function startTokenServer(options: TokenServerOptions): Promise<TestTokenServer> {
  const requests: TokenRequestRecord[] = [];
  const issued: IssuedToken[] = [];
  const script: ScriptedTokenReply[] = [];
  const revoked = new Set<string>();
  let url = "";

  const server: Server = createServer((req, res) => {
    void readBody(req).then(async (raw) => {
      if (options.delayMs) await new Promise((r) => setTimeout(r, options.delayMs));
      const form = new URLSearchParams(raw);
      const record: TokenRequestRecord = {
        at: Date.now(), grantType: form.get("grant_type") ?? "", clientAuth: "none", status: 200,
        form: Object.fromEntries(form), ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
      };
      requests.push(record);
      const reply = (status: number, body: Record<string, unknown> | string, headers: Record<string, string> = {}) => {
        record.status = status;
        res.writeHead(status, { "content-type": typeof body === "string" ? "text/plain" : "application/json", ...headers });
        res.end(typeof body === "string" ? body : JSON.stringify(body));
      };
      const scripted = script.shift();
      if (scripted) return reply(scripted.status, scripted.body, scripted.headers);

      const scope = form.get("scope") ?? "";
      if (record.grantType === "client_credentials") {
        const basic = parseBasic(req.headers.authorization);
        const id = basic?.id ?? form.get("client_id");
        const secret = basic?.secret ?? form.get("client_secret");
        record.clientAuth = basic ? "basic" : form.has("client_secret") ? "post" : "none";
        const want = options.client;
        if (!want || id !== want.id || secret !== want.secret || (want.auth && want.auth !== record.clientAuth)) {
          return reply(401, { error: "invalid_client", error_description: "AADSTS7000215: Invalid client secret provided." });
        }
        return reply(200, issue(id, scope));
      }
      if (record.grantType === "urn:ietf:params:oauth:grant-type:jwt-bearer") {
        record.clientAuth = "assertion";
        const sa = options.serviceAccount;
        try {
          if (!sa) throw new Error("no service account configured");
          const { payload, protectedHeader } = await jwtVerify(form.get("assertion") ?? "", sa.publicKey, {
            issuer: sa.email, audience: url, algorithms: ["RS256"], maxTokenAge: "1h",
          });
          record.assertion = { payload, kid: protectedHeader.kid };
          if (typeof payload.sub !== "string" || typeof payload.scope !== "string") throw new Error("sub and scope are required");
          if ((payload.exp ?? 0) - (payload.iat ?? 0) > 3600) throw new Error("assertion lives longer than 1 h");
          return reply(200, issue(payload.sub, payload.scope));
        } catch (err) {
          return reply(400, { error: "invalid_grant", error_description: (err as Error).message });
        }
      }
      return reply(400, { error: "unsupported_grant_type" });
    });
  });

  function issue(subject: string, scope: string) {
    const token = `at-${randomBytes(12).toString("hex")}`;
    issued.push({ token, subject, scope, issuedAt: Date.now() });
    return { access_token: token, token_type: "Bearer", expires_in: options.expiresIn ?? 3600 };
  }

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/oauth2/token`;

  return {
    url,
    requests,
    issued,
    script,
    options,
    revoked,
    isValid(user, token) {
      if (revoked.has(token)) return false;
      const entry = issued.find((t) => t.token === token);
      // Client-credentials tokens are app tokens: any mailbox the app may send as.
      return Boolean(entry && (entry.subject === user || options.client?.id === entry.subject));
    },
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function parseBasic(header: string | undefined): { id: string; secret: string } | null {
  if (!header?.toLowerCase().startsWith("basic ")) return null;
  const decoded = Buffer.from(header.slice(6), "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon < 0) return null;
  const dec = (s: string) => decodeURIComponent(s.replace(/\+/g, " "));
  return { id: dec(decoded.slice(0, colon)), secret: dec(decoded.slice(colon + 1)) };
}
