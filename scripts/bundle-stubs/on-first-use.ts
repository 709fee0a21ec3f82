import type * as Dns from "node:dns";
import type * as Tls from "node:tls";

/**
 * Node's `tls` and `dns` for ioredis, each loaded when first called: ioredis requires them when it
 * loads, which cost about 1 ms of every cold start with a Redis queue, and only a `rediss://`
 * connection calls `tls.connect` (a Redis cluster, which the function does not use, the others).
 */
type Call = (...args: unknown[]) => unknown;
const onFirstUse =
  <M>(load: () => M, name: keyof M): Call =>
  (...args) =>
    (load()[name] as Call)(...args);

const tls = () => require("node:tls") as typeof Tls;
const dns = () => require("node:dns") as typeof Dns;

export const connect = onFirstUse(tls, "connect") as typeof Tls.connect;
export const lookup = onFirstUse(dns, "lookup") as typeof Dns.lookup;
export const resolveSrv = onFirstUse(dns, "resolveSrv") as typeof Dns.resolveSrv;
