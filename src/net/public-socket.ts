// A TCP connection that refuses to reach private addresses, checked on the address actually
// dialled (so DNS rebinding after a config was saved does not get around it). nodemailer
// takes it through its `getSocket` hook and does TLS on top as usual.
import { connect, type Socket } from "node:net";
import { guardedLookup, isPrivateAddress, refuseBlockedLiteral, type AddressGuard } from "./private-address.ts";

export function connectPublicOnly(host: string, port: number, timeoutMs: number, blocked: AddressGuard = isPrivateAddress): Promise<Socket> {
  const refused = refuseBlockedLiteral(host, blocked);
  if (refused) return Promise.reject(refused);
  const literal = host.replace(/^\[|\]$/g, "");
  return new Promise((resolve, reject) => {
    const socket = connect({ host: literal, port, lookup: guardedLookup(blocked), autoSelectFamily: true });
    const timer = setTimeout(() => fail(Object.assign(new Error(`connecting to ${host}:${port} timed out`), { code: "ETIMEDOUT" })), timeoutMs);
    const fail = (err: Error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    };
    socket.once("error", fail);
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.off("error", fail);
      resolve(socket);
    });
  });
}

/** nodemailer's `getSocket` option: the same connection, in its callback shape. */
export function publicOnlyGetSocket(timeoutMs: number, blocked: AddressGuard = isPrivateAddress) {
  return (options: { host?: string; port?: number | string }, callback: (err: Error | null, socketOptions?: { connection: Socket }) => void): void => {
    connectPublicOnly(options.host ?? "", Number(options.port ?? 25), timeoutMs, blocked).then(
      (connection) => callback(null, { connection }),
      (err: Error) => callback(err),
    );
  };
}
