// Microsoft Graph sendMail: one email = one POST {graphUrl}/v1.0/users/{fromEmail}/sendMail
// whose body is the base64 of the very MIME bytes the SMTP path sends (message.ts, one
// composer), with a bearer token from the shared token cache. 202 is "accepted", our 250.
//
// One kept-alive undici Agent per mailbox (graphUrl origin + fromEmail): a bearer token rides
// each request, not the connection, so configs that send as the same mailbox may share one.
// Every dial goes through the private-target guard (https only) unless private targets are
// allowed; every send has one total deadline (SEND_TIMEOUT_MS) covering both requests of a
// 401 retry; an answer's body is read up to a cap and cleaned before anyone sees it.
// The mailbox gate (limits, throttling, breaker) is consulted by deliver.ts, not here.
import { Agent, request } from "undici";
import type { ResolvedConfig } from "../../smtp-config/model.ts";
import { GRAPH_DEFAULT_URL } from "../../smtp-config/model.ts";
import type { SendResult } from "../../jobs/contracts.ts";
import type { XOAuth2 } from "../xoauth2.ts";
import type { TransportTuning } from "../transport-options.ts";
import { guardedConnector, INSECURE_URL } from "../../net/guarded-connector.ts";
import { isPrivateAddress, refuseBlockedLiteral } from "../../net/private-address.ts";
import { DEFAULT_SEND_TIMEOUT_MS, sendTimeoutError } from "../send-deadline.ts";
import { classifyGraphAnswer, classifyGraphNetworkError, type GraphAnswer } from "../classify-graph.ts";
import { toRaw, type OutgoingMessage } from "../message.ts";

export interface GraphTuning extends Pick<TransportTuning, "ca" | "connectionTimeoutMs" | "blockPrivateTargets" | "blockedAddress" | "sendTimeoutMs"> {
  /** Bytes of an answer's body that are read; the rest is dropped. Default 64 KiB (Graph's error JSON is a few hundred bytes). */
  maxResponseBytes?: number;
  /** Close a mailbox's Agent unused this long. Default 5 min. */
  idleMs?: number;
}

/** Times one step (test-send reports "token" and "send" separately). */
export type Lap = <T>(stage: "token" | "send", run: () => Promise<T>) => Promise<T>;

const untimed: Lap = (_stage, run) => run();

/** What a 202 is reported as, in the job's result and the 250 marker. */
export const GRAPH_ACCEPTED = "202 Accepted";

interface Slot {
  agent: Agent;
  lastUsed: number;
}

export class GraphTransport {
  private readonly agents = new Map<string, Slot>();
  private readonly sweeper: NodeJS.Timeout;
  private readonly idleMs: number;
  private readonly sendTimeoutMs: number;
  private readonly maxBytes: number;

  constructor(private readonly tuning: GraphTuning = {}) {
    this.idleMs = tuning.idleMs ?? 5 * 60_000;
    this.sendTimeoutMs = tuning.sendTimeoutMs ?? DEFAULT_SEND_TIMEOUT_MS;
    this.maxBytes = tuning.maxResponseBytes ?? 64 * 1024;
    this.sweeper = setInterval(() => this.closeIdle(), Math.min(this.idleMs, 60_000)).unref();
  }

  /**
   * Sends `raw` as the config's fromEmail. The token comes first (its errors keep stage
   * "token"); a 401 drops it and tries once more with a fresh one. Throws a classified
   * DeliveryError for anything but 202.
   */
  async send(resolved: ResolvedConfig, raw: Buffer, messageId: string, xoauth2: XOAuth2, lap: Lap = untimed): Promise<SendResult> {
    const url = sendMailUrl(resolved);
    const secrets = (token?: string) => [resolved.config.auth?.type === "oauth" ? resolved.config.auth.clientSecret : undefined, token];
    let token = await lap("token", () => xoauth2.token(resolved));
    const body = raw.toString("base64");
    // One deadline for the whole send, both requests of a 401 retry included.
    const signal = AbortSignal.timeout(this.sendTimeoutMs);
    for (let attempt = 1; ; attempt++) {
      const answer = await lap("send", () => this.post(url, token, body, signal, secrets(token)));
      if (answer.status === 202) return { messageId, response: GRAPH_ACCEPTED };
      if (answer.status === 401 && attempt === 1) {
        // Revoked, or permissions changed since it was issued: once, with a fresh one.
        await xoauth2.invalidate(resolved, token);
        token = await lap("token", () => xoauth2.token(resolved));
        continue;
      }
      throw classifyGraphAnswer(answer, secrets(token));
    }
  }

  /** A GET that has no side effects (verify): `{graphUrl}/v1.0/users/{fromEmail}?$select=id`. */
  async probe(resolved: ResolvedConfig, token: string): Promise<GraphAnswer> {
    const url = `${userUrl(resolved)}?$select=id`;
    return this.call(url, { method: "GET", token }, AbortSignal.timeout(this.sendTimeoutMs), [token]);
  }

  closeAll(): Promise<void> {
    clearInterval(this.sweeper);
    const closing = [...this.agents.values()].map((slot) => slot.agent.close());
    this.agents.clear();
    return Promise.all(closing).then(() => undefined);
  }

  private post(url: URL, token: string, body: string, signal: AbortSignal, secrets: readonly (string | undefined)[]): Promise<GraphAnswer> {
    return this.call(url.href, { method: "POST", token, body }, signal, secrets);
  }

  private async call(href: string, req: { method: "GET" | "POST"; token: string; body?: string }, signal: AbortSignal, secrets: readonly (string | undefined)[]): Promise<GraphAnswer> {
    const url = new URL(href);
    const refused = this.refuse(url);
    if (refused) throw classifyGraphNetworkError(refused, url.host, secrets);
    try {
      const res = await request(url, {
        method: req.method,
        dispatcher: this.agentFor(url.origin, url.pathname),
        headers: {
          authorization: `Bearer ${req.token}`,
          accept: "application/json",
          ...(req.body === undefined ? {} : { "content-type": "text/plain" }),
        },
        body: req.body,
        signal,
      });
      const header = res.headers["retry-after"];
      const retryAfter = Array.isArray(header) ? header[0] : header;
      const body = res.statusCode === 202 ? await drop(res.body) : await readCapped(res.body, this.maxBytes);
      return { status: res.statusCode, body, retryAfter };
    } catch (err) {
      if (signal.aborted) throw sendTimeoutError("send", this.sendTimeoutMs);
      throw classifyGraphNetworkError(err, url.host, secrets);
    }
  }

  /** The guard's rules before a request is built: https only, no private IP literal. */
  private refuse(url: URL): (Error & { code: string }) | undefined {
    if (!this.tuning.blockPrivateTargets) return undefined;
    if (url.protocol !== "https:") return Object.assign(new Error(`${url.host}: graphUrl uses ${url.protocol}, not https:`), { code: INSECURE_URL });
    return refuseBlockedLiteral(url.hostname, this.tuning.blockedAddress ?? isPrivateAddress);
  }

  /** The mailbox's Agent: keyed by origin and the /users/{mailbox} path segment. */
  private agentFor(origin: string, path: string): Agent {
    const key = `${origin}\u0000${(/\/users\/([^/?]+)/.exec(path)?.[1] ?? "").toLowerCase()}`;
    let slot = this.agents.get(key);
    if (!slot) {
      const timeout = this.tuning.connectionTimeoutMs ?? 10_000;
      const connect = this.tuning.blockPrivateTargets
        ? guardedConnector({ timeoutMs: timeout, blocked: this.tuning.blockedAddress })
        : { timeout, ...(this.tuning.ca ? { ca: this.tuning.ca } : {}) };
      slot = { agent: new Agent({ connect, headersTimeout: this.sendTimeoutMs, bodyTimeout: this.sendTimeoutMs, keepAliveTimeout: 30_000 }), lastUsed: 0 };
      this.agents.set(key, slot);
    }
    slot.lastUsed = Date.now();
    return slot.agent;
  }

  private closeIdle(): void {
    const cutoff = Date.now() - this.idleMs;
    for (const [key, slot] of this.agents) {
      if (slot.lastUsed >= cutoff) continue;
      this.agents.delete(key);
      void slot.agent.close();
    }
  }
}

/** deliver.ts's Graph branch: the composed message's bytes, sent as its fromEmail. */
export async function sendViaGraph(graph: GraphTransport | undefined, xoauth2: XOAuth2 | undefined, resolved: ResolvedConfig, message: OutgoingMessage): Promise<SendResult> {
  if (!graph || !xoauth2) throw new Error("Graph configs need the Graph transport and the token provider");
  const { raw, messageId } = await toRaw(message);
  return graph.send(resolved, raw, messageId, xoauth2);
}

function userUrl(resolved: ResolvedConfig): string {
  const base = (resolved.config.graphUrl || GRAPH_DEFAULT_URL).replace(/\/+$/, "");
  return `${base}/v1.0/users/${encodeURIComponent(resolved.config.fromEmail)}`;
}

function sendMailUrl(resolved: ResolvedConfig): URL {
  return new URL(`${userUrl(resolved)}/sendMail`);
}

/** A 202's body (normally empty), discarded without being kept. */
async function drop(stream: AsyncIterable<Buffer> & { destroy(err?: Error): void }): Promise<string> {
  let size = 0;
  for await (const chunk of stream) {
    size += chunk.length;
    if (size > 64 * 1024) {
      stream.destroy();
      break;
    }
  }
  return "";
}

/** At most `max` bytes of the body; a longer one is cut (and its connection dropped). */
async function readCapped(stream: AsyncIterable<Buffer> & { destroy(err?: Error): void }, max: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    chunks.push(chunk);
    size += chunk.length;
    if (size >= max) {
      stream.destroy();
      break;
    }
  }
  return Buffer.concat(chunks).subarray(0, max).toString("utf8");
}
