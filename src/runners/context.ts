import { randomUUID } from "node:crypto";
import type { PlatformContext } from "../platform-context";

export const LOCAL_FUNCTION_NAME = "swr-scan-on-push";

/**
 * A FunctionGraph-like invocation context for running the handler on this machine. It has no
 * agency, so credentials come from configuration (or the embedded emulator).
 */
export function createLocalContext(
  options: { timeoutMs?: number; requestId?: string; env?: NodeJS.ProcessEnv } = {},
): PlatformContext & Record<string, unknown> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const requestId = options.requestId ?? randomUUID();
  const env = options.env ?? {};
  const deadline = Date.now() + timeoutMs;
  return {
    getRequestID: () => requestId,
    getRemainingTimeInMilliSeconds: () => Math.max(0, deadline - Date.now()),
    getRunningTimeInSeconds: () => Math.round(timeoutMs / 1000),
    getFunctionName: () => LOCAL_FUNCTION_NAME,
    getMemorySize: () => 256,
    getUserData: (key: string) => env[key],
    getSecurityAccessKey: () => "",
    getSecuritySecretKey: () => "",
    getSecurityToken: () => "",
  };
}
