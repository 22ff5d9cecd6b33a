// Tries a config stage by stage (token, connect + TLS, auth, send) on a one-off connection,
// with a timing per stage, and says where it broke and what to do. It uses the worker's own
// pieces: transport options, the token cache, message composition and error classification.
// Whatever the server does, the answer comes within SEND_TIMEOUT_MS of connecting, and what
// the server said is cleaned (capped, no controls, our secrets masked) before anyone sees it.
import type { Socket } from "node:net";
import type SMTPConnection from "nodemailer/lib/smtp-connection";
import XOAuth2Client from "nodemailer/lib/xoauth2";
import type { ResolvedConfig } from "../smtp-config/model.ts";
import { DeliveryError, type Stage } from "../errors.ts";
import { renderTestEmail } from "../templates/test-email.ts";
import { classifySmtpError } from "./classify-smtp.ts";
import { connectionOptions, type TransportTuning } from "./transport-options.ts";
import type { XOAuth2 } from "./xoauth2.ts";
import { connectPublicOnly } from "../net/public-socket.ts";
import { toMessage, toRaw } from "./message.ts";
import { OneOffConnection } from "./one-off-connection.ts";
import { DEFAULT_SEND_TIMEOUT_MS, SendDeadline } from "./send-deadline.ts";
import { smtpSecrets } from "./smtp-secrets.ts";
import { cleanPeerText } from "../net/peer-text.ts";
import { testSendGraph } from "./test-send-graph.ts";

export interface StageTimings {
  token?: number;
  connect?: number;
  auth?: number;
  send?: number;
  total: number;
}

export type TestSendOutcome =
  | { ok: true; messageId?: string; response?: string; timingsMs: StageTimings }
  | { ok: false; stage: Stage; code: string; message: string; hint: string; timingsMs: StageTimings };

export interface TestSendOptions {
  /** Omit to stop after a successful login (PUT ?verify=true). */
  to?: string;
  xoauth2?: XOAuth2;
  tuning?: TransportTuning;
}

export async function testSend(resolved: ResolvedConfig, options: TestSendOptions): Promise<TestSendOutcome> {
  if (resolved.config.transport === "graph") return testSendGraph(resolved, options);
  const started = performance.now();
  const timings: StageTimings = { total: 0 };
  const { config } = resolved;
  const oauth = config.auth?.type === "oauth";
  const tuning = options.tuning ?? {};
  let connection: OneOffConnection | undefined;
  let deadline: SendDeadline | undefined;
  let token: string | undefined;
  let current: Stage = "connect";
  /** Times a stage; once the SMTP session has begun, the stage also races the total deadline. */
  const lap = async <T>(stage: Exclude<keyof StageTimings, "total">, run: () => Promise<T>): Promise<T> => {
    const t = performance.now();
    current = stage;
    if (deadline) deadline.stage = stage;
    try {
      return await (deadline ? deadline.race(run()) : run());
    } finally {
      timings[stage] = (timings[stage] ?? 0) + Math.round(performance.now() - t);
    }
  };
  try {
    if (oauth) {
      if (!options.xoauth2) throw new Error("OAuth configs need the XOAUTH2 provider");
      const xoauth2 = options.xoauth2;
      token = await lap("token", () => xoauth2.token(resolved));
    }
    // From here to the last reply: SEND_TIMEOUT_MS in all, whatever the server does.
    deadline = new SendDeadline(tuning.sendTimeoutMs ?? DEFAULT_SEND_TIMEOUT_MS, () => connection?.fail(new Error("SEND_TIMEOUT_MS reached")));
    let socket: Socket | undefined;
    if (tuning.blockPrivateTargets) {
      const dialing = connectPublicOnly(config.host, config.port, tuning.connectionTimeoutMs ?? 10_000, tuning.blockedAddress);
      socket = await lap("connect", () => dialing).catch((err: unknown) => {
        // The deadline won the race: a socket that connects after it must not stay open.
        dialing.then((late) => late.destroy(), () => {});
        throw err;
      });
    }
    const conn = new OneOffConnection(connectionOptions(resolved, tuning), socket);
    connection = conn;
    await lap("connect", () => conn.connect());
    if (config.auth) {
      const auth = config.auth;
      const credentials =
        auth.type === "password"
          ? { user: auth.username, pass: auth.password }
          : { user: options.xoauth2!.spec(resolved).user, oauth2: new XOAuth2Client({ user: options.xoauth2!.spec(resolved).user, accessToken: token }) };
      await lap("auth", () => conn.step((done) => conn.connection.login(credentials, (err) => done(err))));
    }
    if (!options.to) {
      timings.total = Math.round(performance.now() - started);
      return { ok: true, timingsMs: timings };
    }
    const to = options.to;
    const message = toMessage(config, to, renderTestEmail(resolved.projectId, config.host, new Date()));
    const { raw, messageId, envelope } = await toRaw(message);
    const info = await lap("send", () => conn.step<SMTPConnection.SentMessageInfo>((done) => conn.connection.send(envelope, raw, done)));
    timings.total = Math.round(performance.now() - started);
    return { ok: true, messageId, response: cleanPeerText(info.response, { secrets: smtpSecrets(config, token) }), timingsMs: timings };
  } catch (error) {
    const err = error instanceof DeliveryError ? error : classifySmtpError(error, { oauth, secrets: smtpSecrets(config, token), stage: current });
    timings.total = Math.round(performance.now() - started);
    return { ok: false, stage: err.stage, code: err.code, message: err.message, hint: err.hint ?? defaultHint(err.stage), timingsMs: timings };
  } finally {
    deadline?.clear();
    connection?.close();
  }
}

function defaultHint(stage: Stage): string {
  switch (stage) {
    case "token": return "the identity provider did not issue a token: check clientId, clientSecret, tokenUrl and scope";
    case "connect": return "could not connect: check `host`, `port` and that outbound SMTP is allowed";
    case "tls": return "the TLS handshake failed: check the port and the server's certificate";
    case "auth": return "the server refused the login: check the credentials";
    case "send": return "the server refused the message: check `fromEmail` and the recipient";
    default: return "check the SMTP configuration";
  }
}
