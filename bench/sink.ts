// The benchmark's SMTP sink, run as its own process by bench/run.ts (IPC channel required).
// Two listeners on loopback: plain SMTP (AUTH in the clear: the figure the old bench had) and
// STARTTLS with the bench certificate (AUTH only after it, as real servers do). Both accept
// PLAIN/LOGIN with the bench password and XOAUTH2 with a token of the bench token endpoint.
// Message bodies are drained and discarded, only counted; on request the time of each 250 is
// noted per recipient (latency phases).
//
// smtp-server waits 100 ms before every greeting (its "early talker" check, hard-coded in
// lib/smtp-connection.js init(); no option removes it): a new connection costs at least that.
//
// The IPC messages are described in bench/sink-protocol.ts.
import type { AddressInfo } from "node:net";
import { SMTPServer, type SMTPServerOptions } from "smtp-server";
import { verifyToken } from "./token-endpoint.ts";
import { SINK_PASS, isSinkUser, type FromSink, type ToSink } from "./sink-protocol.ts";

function send(message: FromSink): void {
  process.send?.(message);
}

function main(): void {
  if (!process.send) {
    process.stderr.write("bench/sink.ts must be started by bench/run.ts (it needs an IPC channel)\n");
    process.exit(1);
  }
  let count = 0;
  let reported = -1;
  let connections = 0;
  let refusedLogins = 0;
  let recordPrefix: string | null = null;
  let times: [string, number][] = [];
  const targets: number[] = [];

  const checkTargets = (): void => {
    for (let i = targets.length - 1; i >= 0; i--) {
      if (count >= targets[i]!) {
        targets.splice(i, 1);
        send({ type: "reached", count });
      }
    }
  };

  const listen = (tls: { key: string; cert: string; tokenKey: string } | null, tokenKey: string): Promise<number> => {
    const options: SMTPServerOptions = {
      logger: false,
      secure: false,
      ...(tls ? { key: tls.key, cert: tls.cert } : { disabledCommands: ["STARTTLS"] }),
      authMethods: ["PLAIN", "LOGIN", "XOAUTH2"],
      allowInsecureAuth: !tls,
      disableReverseLookup: true,
      onConnect(_session, callback) {
        connections++;
        callback();
      },
      onAuth(auth, _session, callback) {
        const ok = auth.method === "XOAUTH2" ? verifyToken(tokenKey, auth.accessToken ?? "") !== null : isSinkUser(auth.username) && auth.password === SINK_PASS;
        if (ok) return callback(null, { user: auth.username });
        refusedLogins++;
        return callback(Object.assign(new Error("5.7.8 Authentication credentials invalid"), { responseCode: 535 }));
      },
      onData(stream, session, callback) {
        stream.on("end", () => {
          count++;
          if (recordPrefix !== null) {
            // The 250 goes out right after this callback, in the same tick.
            const at = Number(process.hrtime.bigint()) / 1e6;
            for (const rcpt of session.envelope.rcptTo) if (rcpt.address.startsWith(recordPrefix)) times.push([rcpt.address, at]);
          }
          if (targets.length > 0) checkTargets();
          callback();
        });
        stream.resume();
      },
    };
    const server = new SMTPServer(options);
    server.on("error", (err: Error) => process.stderr.write(`sink: ${err.message}\n`));
    return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.server.address() as AddressInfo).port)));
  };

  process.on("message", (raw: unknown) => {
    const message = raw as ToSink;
    if (message.type === "init") {
      void Promise.all([listen(null, message.tokenKey), listen(message, message.tokenKey)]).then(([plainPort, tlsPort]) => send({ type: "ready", plainPort, tlsPort }));
    } else if (message.type === "target") {
      targets.push(message.n);
      checkTargets();
    } else if (message.type === "stats") {
      const cpu = process.cpuUsage();
      send({ type: "stats", count, cpuMicros: cpu.user + cpu.system, connections, refusedLogins });
    } else if (message.type === "record") {
      recordPrefix = message.prefix;
    } else if (message.type === "times") {
      send({ type: "times", entries: times });
      times = [];
    }
  });
  // The parent went away: nothing left to do.
  process.on("disconnect", () => process.exit(0));

  setInterval(() => {
    if (count !== reported) {
      reported = count;
      send({ type: "progress", count });
    }
  }, 250).unref();
}

main();
