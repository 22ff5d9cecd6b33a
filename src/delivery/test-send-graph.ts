// Test-send and PUT ?verify=true for `transport: "graph"` configs, with the worker's pieces:
// the shared token cache, the one composer, GraphTransport and the Graph hint table.
// Stages: "token", then "send" (sendMail). A one-off transport, closed afterwards.
//
// Verify (no `to`) sends nothing. It gets a token, then:
// 1. when the token is a JWT with a `roles` claim (Entra app tokens are), Mail.Send must be in
//    it: that is the application permission sendMail needs, present only after admin consent;
// 2. `GET {graphUrl}/v1.0/users/{fromEmail}?$select=id`, which has no side effects: 2xx means
//    Graph accepts the token and knows the mailbox; 404 (no such user) and a 401 after a fresh
//    token fail; a 403 does not, since reading users needs User.Read.All, which a send-only app
//    rightly lacks. An application access policy is only checked by a real send (test-send).
import type { ResolvedConfig } from "../smtp-config/model.ts";
import { DeliveryError } from "../errors.ts";
import { renderTestEmail } from "../templates/test-email.ts";
import type { XOAuth2 } from "./xoauth2.ts";
import type { TransportTuning } from "./transport-options.ts";
import { toMessage, toRaw } from "./message.ts";
import { GraphTransport, type Lap } from "./transports/graph.ts";
import { classifyGraphAnswer } from "./classify-graph.ts";
import type { StageTimings, TestSendOutcome } from "./test-send.ts";

export interface GraphTestOptions {
  to?: string;
  xoauth2?: XOAuth2;
  tuning?: TransportTuning;
}

const MAIL_SEND_MISSING =
  "the token has no Mail.Send application permission: add Microsoft Graph > Application permissions > Mail.Send to the app registration and grant admin consent in Entra ID";

export async function testSendGraph(resolved: ResolvedConfig, options: GraphTestOptions): Promise<TestSendOutcome> {
  const started = performance.now();
  const timings: StageTimings = { total: 0 };
  const graph = new GraphTransport(options.tuning);
  const lap: Lap = async (stage, run) => {
    const t = performance.now();
    try {
      return await run();
    } finally {
      timings[stage] = (timings[stage] ?? 0) + Math.round(performance.now() - t);
    }
  };
  try {
    const xoauth2 = options.xoauth2;
    if (!xoauth2) throw new Error("Graph configs need the token provider");
    if (options.to) {
      const message = toMessage(resolved.config, options.to, renderTestEmail(resolved.projectId, resolved.config.host, new Date()));
      const { raw, messageId } = await toRaw(message);
      const sent = await graph.send(resolved, raw, messageId, xoauth2, lap);
      timings.total = Math.round(performance.now() - started);
      return { ok: true, messageId: sent.messageId, response: sent.response, timingsMs: timings };
    }
    await verify(graph, resolved, xoauth2, lap);
    timings.total = Math.round(performance.now() - started);
    return { ok: true, timingsMs: timings };
  } catch (error) {
    const err = error instanceof DeliveryError ? error : new DeliveryError((error as Error).message, { stage: "config", permanent: true, code: "internal" });
    timings.total = Math.round(performance.now() - started);
    return { ok: false, stage: err.stage, code: err.code, message: err.message, hint: err.hint ?? "check the Graph configuration", timingsMs: timings };
  } finally {
    await graph.closeAll();
  }
}

async function verify(graph: GraphTransport, resolved: ResolvedConfig, xoauth2: XOAuth2, lap: Lap): Promise<void> {
  let token = await lap("token", () => xoauth2.token(resolved));
  const roles = jwtRoles(token);
  if (roles && !roles.includes("Mail.Send")) {
    throw new DeliveryError("the access token carries no Mail.Send role", { stage: "token", permanent: true, code: "missing_mail_send", hint: MAIL_SEND_MISSING });
  }
  for (let attempt = 1; ; attempt++) {
    const current = token;
    const answer = await lap("send", () => graph.probe(resolved, current));
    if ((answer.status >= 200 && answer.status < 300) || answer.status === 403) return;
    if (answer.status === 401 && attempt === 1) {
      await xoauth2.invalidate(resolved, token);
      token = await lap("token", () => xoauth2.token(resolved));
      continue;
    }
    const secret = resolved.config.auth?.type === "oauth" ? resolved.config.auth.clientSecret : undefined;
    throw classifyGraphAnswer(answer, [secret, token]);
  }
}

/** The `roles` claim of a JWT access token; undefined for opaque tokens or tokens without it. */
export function jwtRoles(token: string): string[] | undefined {
  const parts = token.split(".");
  if (parts.length !== 3 || parts[1]!.length > 16_384) return undefined;
  try {
    const payload = JSON.parse(Buffer.from(parts[1]!, "base64url").toString("utf8")) as { roles?: unknown };
    return Array.isArray(payload.roles) ? payload.roles.filter((r): r is string => typeof r === "string") : undefined;
  } catch {
    return undefined;
  }
}
