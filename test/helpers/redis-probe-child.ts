// A plain process that connects once through src/redis (as every role does), PINGs, writes
// and reads back keys in three slots (on a Cluster: on different masters), then prints one
// JSON line: { ok, reply?, error?, connectionError? }. Run as a child so that NODE_EXTRA_CA_CERTS,
// which Node reads only at start, is the production mechanism under test. Env: PROBE_URL.
import { connectRedis } from "../../src/redis.ts";

const redis = connectRedis(process.env.PROBE_URL ?? "", { maxRetriesPerRequest: 0 });
// The connection's own error says why (a certificate, a name); the command only that it failed.
let connectionError: string | undefined;
redis.on("error", (err: Error) => (connectionError ??= `${(err as NodeJS.ErrnoException).code ?? ""} ${err.message}`));
let line: Record<string, unknown>;
try {
  const reply = await Promise.race([
    (async () => {
      const pong = await redis.ping();
      for (const tag of ["a", "b", "c"]) {
        await redis.set(`{${tag}}:probe`, tag, "EX", 60);
        if ((await redis.get(`{${tag}}:probe`)) !== tag) throw new Error(`read back the wrong value of {${tag}}:probe`);
      }
      return pong;
    })(),
    new Promise((_, reject) => setTimeout(() => reject(new Error("no answer within 5 s")), 5000)),
  ]);
  line = { ok: true, reply };
} catch (err) {
  line = { ok: false, error: (err as Error).message, connectionError };
}
redis.disconnect();
process.stdout.write(`${JSON.stringify(line)}\n`);
process.exit(0);
