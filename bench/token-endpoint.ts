// The bench's OAuth token endpoint (HTTPS on loopback, the bench certificate): client
// credentials, client_secret_post, opaque tokens living 60 s. Tokens are an HMAC over
// (client, expiry) under a key only the sink shares, so the sink checks an XOAUTH2 login
// without asking anyone. It counts the requests it answers.
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";

export const TOKEN_LIFETIME_S = 60;

export interface TokenEndpoint {
  url: string;
  /** Requests answered with a token so far. */
  readonly issued: number;
  /** Requests refused so far (bad client, bad grant): should stay 0. */
  readonly refused: number;
  /** The shared key (hex) the sink verifies tokens with. */
  key: string;
  /** A token for `clientId`, as the endpoint would issue it (the naive peer's cache is filled with these). */
  issue(clientId: string): string;
  close(): Promise<void>;
}

/** The token's text: `<payload>.<mac>`, payload = base64url(clientId \n expiresAtMs \n nonce). */
export function signToken(keyHex: string, clientId: string, expiresAt: number): string {
  const payload = Buffer.from(`${clientId}\n${expiresAt}\n${randomBytes(8).toString("hex")}`).toString("base64url");
  const mac = createHmac("sha256", Buffer.from(keyHex, "hex")).update(payload).digest("base64url");
  return `${payload}.${mac}`;
}

/** The client a token was issued to, or null when it is forged or expired. */
export function verifyToken(keyHex: string, token: string, now = Date.now()): string | null {
  const dot = token.indexOf(".");
  if (dot < 0) return null;
  const payload = token.slice(0, dot);
  const mac = Buffer.from(token.slice(dot + 1), "base64url");
  const expected = createHmac("sha256", Buffer.from(keyHex, "hex")).update(payload).digest();
  if (mac.length !== expected.length || !timingSafeEqual(mac, expected)) return null;
  const [clientId, expiresAt] = Buffer.from(payload, "base64url").toString().split("\n");
  return clientId && Number(expiresAt) > now ? clientId : null;
}

/** `clients`: client id → secret. */
export async function startTokenEndpoint(tls: { key: string; cert: string }, clients: Map<string, string>): Promise<TokenEndpoint> {
  const key = randomBytes(32).toString("hex");
  let issued = 0;
  let refused = 0;
  const server: Server = createServer({ key: tls.key, cert: tls.cert }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const form = new URLSearchParams(Buffer.concat(chunks).toString());
      const clientId = form.get("client_id") ?? "";
      const ok = req.method === "POST" && form.get("grant_type") === "client_credentials" && clients.get(clientId) === form.get("client_secret");
      if (!ok) {
        refused++;
        res.writeHead(401, { "content-type": "application/json" }).end(JSON.stringify({ error: "invalid_client" }));
        return;
      }
      issued++;
      const token = signToken(key, clientId, Date.now() + TOKEN_LIFETIME_S * 1000);
      res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" });
      res.end(JSON.stringify({ access_token: token, token_type: "Bearer", expires_in: TOKEN_LIFETIME_S }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${port}/token`,
    key,
    get issued() {
      return issued;
    },
    get refused() {
      return refused;
    },
    issue: (clientId) => signToken(key, clientId, Date.now() + TOKEN_LIFETIME_S * 1000),
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
