/**
 * ioredis's diagnostics (the `debug` package), off. With `DEBUG=ioredis:*` the real module writes
 * every command with its arguments to stderr, AUTH's password among them, and the function's
 * secrets never reach a log; loading it also set up stderr and probed the terminal at every cold
 * start with a Redis queue (about 1.5 ms). The function reports Redis's failures in its own log.
 */
export interface Debugger {
  (...args: unknown[]): void;
  enabled: boolean;
  namespace: string;
  log: (...args: unknown[]) => void;
  destroy(): boolean;
}

export default function debug(namespace: string): Debugger {
  const silent = () => undefined;
  return Object.assign(silent, { enabled: false, namespace, log: silent, destroy: () => true });
}
