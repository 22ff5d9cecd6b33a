// The benchmark's SMTP sink, run as its own process by bench/run.ts (IPC channel required).
// Plain SMTP on loopback with PLAIN/LOGIN auth; message bodies are drained and discarded,
// only counted. TLS is off on purpose: the benchmark compares our overhead with nodemailer's,
// and TLS cost would dominate both sides.
//
// The IPC messages are described in bench/sink-protocol.ts.
import type { AddressInfo } from "node:net";
import { SMTPServer } from "smtp-server";
import { SINK_PASS, SINK_USER, type FromSink, type ToSink } from "./sink-protocol.ts";

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
  const targets: number[] = [];

  const checkTargets = (): void => {
    for (let i = targets.length - 1; i >= 0; i--) {
      if (count >= targets[i]!) {
        targets.splice(i, 1);
        send({ type: "reached", count });
      }
    }
  };

  const server = new SMTPServer({
    logger: false,
    secure: false,
    disabledCommands: ["STARTTLS"],
    authMethods: ["PLAIN", "LOGIN"],
    allowInsecureAuth: true,
    disableReverseLookup: true,
    onAuth(auth, _session, callback) {
      if (auth.username === SINK_USER && auth.password === SINK_PASS) return callback(null, { user: auth.username });
      return callback(Object.assign(new Error("5.7.8 Authentication credentials invalid"), { responseCode: 535 }));
    },
    onData(stream, _session, callback) {
      stream.on("end", () => {
        count++;
        if (targets.length > 0) checkTargets();
        callback();
      });
      stream.resume();
    },
  });
  server.on("error", (err: Error) => process.stderr.write(`sink: ${err.message}\n`));

  process.on("message", (raw: unknown) => {
    const message = raw as ToSink;
    if (message.type === "target") {
      targets.push(message.n);
      checkTargets();
    } else if (message.type === "stats") {
      const cpu = process.cpuUsage();
      send({ type: "stats", count, cpuMicros: cpu.user + cpu.system });
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

  server.listen(0, "127.0.0.1", () => {
    send({ type: "ready", port: (server.server.address() as AddressInfo).port });
  });
}

main();
