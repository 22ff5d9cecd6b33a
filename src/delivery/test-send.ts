// Tries a config stage by stage (token, connect + TLS, auth, send) on a one-off connection,
// with a timing per stage, and says where it broke and what to do. It uses the worker's own
// pieces: transport options, the token cache, message composition and error classification.
import SMTPConnection from "nodemailer/lib/smtp-connection";
import XOAuth2Client from "nodemailer/lib/xoauth2";
import type { ResolvedConfig } from "../smtp-config/model.ts";
import { DeliveryError, type Stage } from "../errors.ts";
import { renderTestEmail } from "../templates/test-email.ts";
import { classifySmtpError } from "./classify-smtp.ts";
import { connectionOptions, type TransportTuning } from "./transport-options.ts";
import type { XOAuth2 } from "./xoauth2.ts";
import { connectPublicOnly } from "../net/public-socket.ts";
import { toMessage, toRaw } from "./message.ts";

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
  const started = performance.now();
  const timings: StageTimings = { total: 0 };
  const lap = async <T>(stage: Exclude<keyof StageTimings, "total">, run: () => Promise<T>): Promise<T> => {
    const t = performance.now();
    try {
      return await run();
    } finally {
      timings[stage] = (timings[stage] ?? 0) + Math.round(performance.now() - t);
    }
  };
  const { config } = resolved;
  const oauth = config.auth?.type === "oauth";
  let connection: SMTPConnection | undefined;
  try {
    let token: string | undefined;
    if (oauth) {
      if (!options.xoauth2) throw new Error("OAuth configs need the XOAUTH2 provider");
      const xoauth2 = options.xoauth2;
      token = await lap("token", () => xoauth2.token(resolved));
    }
    const tuning = options.tuning ?? {};
    const socket = tuning.blockPrivateTargets
      ? await lap("connect", () => connectPublicOnly(config.host, config.port, tuning.connectionTimeoutMs ?? 10_000, tuning.blockedAddress))
      : undefined;
    const conn = new SMTPConnection({ ...connectionOptions(resolved, tuning), ...(socket ? { connection: socket } : {}) });
    connection = conn;
    await lap("connect", () => new Promise<void>((resolve, reject) => {
      conn.once("error", reject);
      conn.connect(() => {
        conn.off("error", reject);
        resolve();
      });
    }));
    if (config.auth) {
      const auth = config.auth;
      const credentials =
        auth.type === "password"
          ? { user: auth.username, pass: auth.password }
          : { user: options.xoauth2!.spec(resolved).user, oauth2: new XOAuth2Client({ user: options.xoauth2!.spec(resolved).user, accessToken: token }) };
      await lap("auth", () => new Promise<void>((resolve, reject) => conn.login(credentials, (err) => (err ? reject(err) : resolve()))));
    }
    if (!options.to) {
      timings.total = Math.round(performance.now() - started);
      return { ok: true, timingsMs: timings };
    }
    const to = options.to;
    const message = toMessage(config, to, renderTestEmail(resolved.projectId, config.host, new Date()));
    const { raw, messageId, envelope } = await toRaw(message);
    const info = await lap("send", () => new Promise<SMTPConnection.SentMessageInfo>((resolve, reject) =>
      conn.send(envelope, raw, (err, result) => (err ? reject(err) : resolve(result)))));
    timings.total = Math.round(performance.now() - started);
    return { ok: true, messageId, response: info.response, timingsMs: timings };
  } catch (error) {
    const err = error instanceof DeliveryError ? error : classifySmtpError(error, { oauth });
    timings.total = Math.round(performance.now() - started);
    return { ok: false, stage: err.stage, code: err.code, message: err.message, hint: err.hint ?? defaultHint(err.stage), timingsMs: timings };
  } finally {
    connection?.quit();
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
